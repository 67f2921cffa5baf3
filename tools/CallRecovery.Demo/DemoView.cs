using System.Globalization;
using System.Text;
using CallRecovery.Contracts.V1;
using CallRecovery.SwitchEmulator;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace CallRecovery.Demo;

/// <summary>
/// What the demo shows: traffic (with the simulated outage and re-attaches), decisions, holds, callbacks, latency, and
/// the latest recoveries as stories.
/// </summary>
public sealed class DemoView(TrafficSimulator.TrafficSimulator simulator, IReadOnlyList<EmulatedSwitch> switches, RecoveryFeed feed, ServiceMetrics metrics, bool quietHours = false)
{
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private ServiceFigures _service = ServiceFigures.None;
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
        if (NightBanner() is { } night)
        {
            text.Append(night).Append('\n');
        }

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
            _service = await metrics.ReadAsync(cancellationToken);
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
            ("Network events/s", $"{_eventsPerSecond:0.0} ({counters.EventsPublished} events, {counters.Calls} calls, {counters.Drops} drops, {counters.Redials} redials, {counters.CustomerReplies} customers' \"not now\")"),
            ("Network", Network(counters)),
            ("Decisions", _service.Decisions.Count == 0 ? "-" : string.Join("  ", _service.Decisions.Select(d => $"{d.Key} {d.Value:0}"))),
            ("Held", $"outage incidents open {_service.OpenIncidents:0}, holding {_service.OutageHeld:0}  held so far: {(_service.HeldTotal.Count == 0 ? "-" : string.Join(", ", _service.HeldTotal.Select(h => $"{h.Key} {h.Value:0}")))}"),
            ("Callbacks", $"sent {switches.Sum(s => s.Received.Count)}  accepted {switches.Sum(s => s.Placed.Count)}  reconnected {feed.Outcomes.GetValueOrDefault(Outcome.Reconnected)}  resent {switches.Sum(s => s.Received.Count(c => c.Attempt > 1))}  called again {_service.Retried:0}  vulnerable customers first {switches.Sum(s => s.Received.Count(c => c.Priority == Priority.High && c.Attempt <= 1))}"),
            ("Meaning", "resent: deliveries of a command sent again (not acknowledged in time, or rejected); called again: callbacks tried again after no answer or busy, counted when scheduled (20 s later; a delayed callback keeps out of quiet hours)"),
            ("Grace", Grace()),
            ("Outcomes", Outcomes()),
            ("Amends", feed.Compensations is var (all, credited, capped) && all > 0 ? $"compensated {all} failed recoveries: apologies {all}, credits {credited}, past the daily cap {capped}" : "-"),
            ("Drop to callback", latencies.Length == 0 ? "-" : $"p50 {Percentile(latencies, 0.50):0.0} s  p99 {Percentile(latencies, 0.99):0.0} s  ({latencies.Length} callbacks, held ones included)"),
            ("Switches", string.Join("  ", switches.Select(s => $"{s.Options.InstanceId} {(s.IsConnected ? "up" : "down")}{(s.Options.FirstCallbackOutcome is { } first ? $" (first callbacks: {Label(first)})" : string.Empty)}"))
                + (switches.Count > 0 && switches[0].Options.MaxCommandsPerSecond > 0 ? $"  admission {switches[0].Options.MaxCommandsPerSecond}/s per switch" : string.Empty)),
        ];
    }

    /// <summary>The learned grace periods (mean by where they were learned) and what the redials cancelled: callbacks never sent, or sent already.</summary>
    private string Grace()
    {
        if (_service.Grace.Count == 0)
        {
            return "-";
        }

        var chosen = string.Join(", ", _service.Grace.Where(g => g.Value.Count > 0).Select(g => $"{g.Key} {g.Value.Count:0} (mean {g.Value.Sum / g.Value.Count:0.0} s)"));
        return $"learned: {chosen}  redials cancelled {_service.Redialled.GetValueOrDefault("false"):0} callbacks before they went, {_service.Redialled.GetValueOrDefault("true"):0} after";
    }

    /// <summary>Final outcomes, then the callbacks being tried again ("no answer, retrying").</summary>
    private string Outcomes()
    {
        var parts = feed.Outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}")
            .Concat(feed.Retrying.OrderBy(o => o.Key).Select(o => $"{Label(o.Key)}, retrying {o.Value}"))
            .ToList();
        return parts.Count == 0 ? "-" : string.Join("  ", parts);
    }

    /// <summary>The simulated network: re-attaches after radio loss, and the outage cell's state.</summary>
    private string Network(TrafficSimulator.TrafficCounters counters)
    {
        var text = $"{counters.Reattaches} re-attaches after radio loss";
        var options = simulator.Options;
        if (options.OutageEvery is not { } every)
        {
            return text;
        }

        var now = DateTimeOffset.UtcNow;
        var outage = simulator.LastOutage;
        var state = outage switch
        {
            null => $"cell {options.OutageCell} fails {(options.OutageFirstAfter ?? every).TotalSeconds:0} s into the run",
            { } o when now < o.End => $"OUTAGE {o.Number}: cell {o.Cell} ({o.SwitchingNode}) down since {o.Start:HH:mm:ss}, {o.Calls.Count} calls dropped; back in service at {o.End:HH:mm:ss}",
            { } o => $"outage {o.Number}: cell {o.Cell} back in service since {o.End:HH:mm:ss}{(options.OutageCount is { } most && o.Number >= most ? string.Empty : $", fails again at {o.Start + every:HH:mm:ss}")}",
        };
        return $"{text}  {state}";
    }

    private static string Label(Outcome outcome) => outcome switch
    {
        Outcome.NoAnswer => "no answer",
        Outcome.Busy => "busy",
        Outcome.Failed => "failed",
        _ => outcome.ToString(),
    };

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
        var footer = new Markup("[grey]Ctrl-C stops everything.[/]");
        return NightBanner() is { } night ? new Rows(new Markup($"[yellow]{Markup.Escape(night)}[/]"), table, panel, footer) : new Rows(table, panel, footer);
    }

    /// <summary>
    /// At night in the UK (the simulated customers' numbers are +44), with quiet hours on: why most delayed callbacks
    /// (retries, after a re-attach or an outage) end QUIET_HOURS, and how to see the daytime behaviour.
    /// </summary>
    private string? NightBanner()
    {
        var hour = TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, TimeZoneInfo.FindSystemTimeZoneById("Europe/London")).Hour;
        return quietHours && (hour >= 21 || hour < 9)
            ? "Night in the UK (quiet hours 21:00-09:00, the customers' local time): delayed callbacks - retries, callbacks after a re-attach or an outage - may not ring now; they wait for 09:00 or, past their 2-minute deadline, end QUIET_HOURS. First callbacks go as by day. For the daytime behaviour: ./demo.sh --no-quiet-hours"
            : null;
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
