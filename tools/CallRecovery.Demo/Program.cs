using System.CommandLine;

namespace CallRecovery.Demo;

/// <summary>
/// The local demo: `./demo.sh` (or `dotnet run --project tools/CallRecovery.Demo`). Ctrl-C stops everything.
/// A named class, not top-level statements: ASP.NET Core makes a top-level Program public, which would clash
/// with the service's own Program wherever both are referenced.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var rate = new Option<double>("--rate") { Description = "Simulated calls per second.", DefaultValueFactory = _ => 20 };
        var duration = new Option<int?>("--duration") { Description = "Stop after this many seconds (default: until Ctrl-C)." };
        var plain = new Option<bool>("--plain") { Description = "Print plain text blocks instead of the live dashboard (for logs and CI)." };
        var noQuietHours = new Option<bool>("--no-quiet-hours")
        {
            Description = "Turn the service's quiet hours off (21:00-09:00 customer's local time: delayed callbacks - after a re-attach, an outage, or a retry - are not placed then and end as QuietHours). For a demo at night.",
        };
        var noDashboard = new Option<bool>("--no-dashboard") { Description = "Leave out the Aspire dashboard (traces, logs and metrics in a browser)." };
        var root = new RootCommand("CallRecovery demo: embedded Kafka, redis-server, the service, simulated network traffic (with radio-loss re-attaches and a cell outage 30 s in, then every 2 min) and emulated switches, live.")
        {
            rate, duration, plain, noQuietHours, noDashboard,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (parse.GetValue(duration) is { } seconds)
            {
                stop.CancelAfter(TimeSpan.FromSeconds(seconds));
            }

            var run = new DemoRun(parse.GetValue(rate), parse.GetValue(plain), quietHours: !parse.GetValue(noQuietHours), dashboard: !parse.GetValue(noDashboard));
            return await run.RunAsync(stop.Token);
        });
        return await root.Parse(args).InvokeAsync();
    }
}
