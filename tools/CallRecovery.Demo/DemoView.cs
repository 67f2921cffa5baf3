using System.Globalization;
using System.Text;
using CallRecovery.Contracts.V1;
using CallRecovery.SwitchEmulator;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace CallRecovery.Demo;

/// <summary>What the demo shows: traffic, decisions, callbacks, latency, and the latest recoveries as stories.</summary>
public sealed class DemoView(TrafficSimulator.TrafficSimulator simulator, IReadOnlyList<EmulatedSwitch> switches, RecoveryFeed feed, ServiceMetrics metrics)
{
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private IReadOnlyDictionary<string, double> _decisions = new Dictionary<string, double>();
    private long _lastEvents;
    private DateTimeOffset _lastSample = DateTimeOffset.UtcNow;
    private double _eventsPerSecond;

    public async Task LiveAsync(CancellationToken cancellationToken)
    {
        await AnsiConsole.Live(Render()).AutoClear(false).StartAsync(async context =>
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await SampleAsync(cancellationToken);
                context.UpdateTarget(Render());
                await Wait(TimeSpan.FromSeconds(1), cancellationToken);
            }
        });
    }

    public async Task PrintAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Wait(TimeSpan.FromSeconds(2), cancellationToken);
            await SampleAsync(cancellationToken);
            Console.WriteLine(Summary());
        }
    }

    public string Summary()
    {
        var text = new StringBuilder();
        foreach (var (name, value) in Figures())
        {
            text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\n");
        }

        foreach (var story in feed.LatestStories(5))
        {
            text.Append("  * ").Append(story).Append('\n');
        }

        return text.ToString();
    }

    private async Task SampleAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var events = simulator.Counters.EventsPublished;
        _eventsPerSecond = (events - _lastEvents) / Math.Max(0.001, (now - _lastSample).TotalSeconds);
        (_lastEvents, _lastSample) = (events, now);
        try
        {
            _decisions = await metrics.DecisionsAsync(cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // Keep the last figures; the service may be busy or stopping.
        }
    }

    private List<(string Name, string Value)> Figures()
    {
        var latencies = switches.SelectMany(s => s.DropToCommand).Select(t => t.TotalSeconds).Order().ToArray();
        var counters = simulator.Counters;
        return
        [
            ("Running", $"{(DateTimeOffset.UtcNow - _started).TotalSeconds:0} s"),
            ("Network events/s", $"{_eventsPerSecond:0.0} ({counters.EventsPublished} events, {counters.Calls} calls, {counters.Drops} drops, {counters.Redials} redials)"),
            ("Decisions", _decisions.Count == 0 ? "-" : string.Join("  ", _decisions.Select(d => $"{d.Key} {d.Value:0}"))),
            ("Callbacks", $"sent {switches.Sum(s => s.Received.Count)}  accepted {switches.Sum(s => s.Placed.Count)}  reconnected {feed.Outcomes.GetValueOrDefault(Outcome.Reconnected)}  retries {switches.Sum(s => s.Received.Count(c => c.Attempt > 1))}"),
            ("Outcomes", feed.Outcomes.Count == 0 ? "-" : string.Join("  ", feed.Outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))),
            ("Drop to callback", latencies.Length == 0 ? "-" : $"p50 {Percentile(latencies, 0.50):0.0} s  p99 {Percentile(latencies, 0.99):0.0} s  ({latencies.Length} callbacks)"),
            ("Switches", string.Join("  ", switches.Select(s => $"{s.Options.InstanceId} {(s.IsConnected ? "up" : "down")}"))),
        ];
    }

    private IRenderable Render()
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]CallRecovery[/] - every dropped call, called back once").AddColumn("").AddColumn("");
        foreach (var (name, value) in Figures())
        {
            table.AddRow(new Markup($"[bold]{Markup.Escape(name)}[/]"), new Text(value));
        }

        var stories = feed.LatestStories(6);
        var panel = new Panel(stories.Count == 0 ? new Text("(waiting for the first recoveries...)") : new Rows(stories.Select(s => new Text("- " + s))))
            .Header("Latest recoveries").Expand();
        return new Rows(table, panel, new Markup("[grey]Ctrl-C stops everything.[/]"));
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static async Task Wait(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
