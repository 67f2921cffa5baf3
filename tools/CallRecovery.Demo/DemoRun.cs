using System.Globalization;
using CallRecovery.SwitchEmulator;
using CallRecovery.TrafficSimulator;
using Spectre.Console;

namespace CallRecovery.Demo;

/// <summary>Starts the local stack, the traffic and the switches, shows what happens, and stops it all.</summary>
public sealed class DemoRun(double callsPerSecond, bool plain)
{
    /// <summary>Switching nodes of the simulated network and the switch pools that place their callbacks.</summary>
    private static readonly Dictionary<string, string> ServiceSettings = new()
    {
        ["Switching:Routes:msc-lon-1"] = "switch-lon",
        ["Switching:Routes:msc-man-1"] = "switch-man",
        ["Switching:DefaultSwitch"] = "switch-ims",
        // Redials in the simulated traffic come 3 s after the drop; the grace period lets them cancel.
        ["Switching:GracePeriod"] = "00:00:05",
        ["Switching:Announcement:Languages:+44"] = "en-GB",
    };

    private static readonly (string SwitchId, int Instances)[] Pools = [("switch-lon", 2), ("switch-man", 1), ("switch-ims", 1)];

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Say("Starting embedded Kafka (librdkafka mock cluster), redis-server and the service...");
        LocalServices stack;
        try
        {
            stack = await LocalServices.StartAsync(ServiceSettings, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return 0;
        }

        await using (stack)
        {
            Say($"Kafka {stack.BootstrapServers}  Redis 127.0.0.1:{stack.RedisPort}  service {stack.ServiceHttp} (switch API {stack.ServiceSwitching})");
            Say($"Processes: redis-server {stack.RedisProcessId}, service {stack.ServiceProcessId}. Service log: {stack.ServiceLog}");
            Say($"Why was a call recovered or not? While this runs, in another terminal: dotnet run --project tools/CallRecovery.Lookup -- --service {stack.ServiceSwitching} call <call id from a story>");
            Say($"The HTTP API takes this run's operator token: curl -H \"Authorization: Bearer $(cat {stack.Credentials!.TokenPath})\" {stack.ServiceHttp}v1/calls/<call id>");

            var switches = Pools.SelectMany(pool => Enumerable.Range(1, pool.Instances).Select(i => new EmulatedSwitch(new SwitchEmulatorOptions
            {
                ServiceAddress = stack.ServiceSwitching,
                SwitchId = pool.SwitchId,
                InstanceId = $"{pool.SwitchId}-{i}",
                RejectRatio = 0.05,
                StageDelay = TimeSpan.FromMilliseconds(400),
                Seed = pool.SwitchId.Length * 31 + i,
            }))).ToList();
            var simulator = new TrafficSimulator.TrafficSimulator(new TrafficOptions
            {
                BootstrapServers = stack.BootstrapServers,
                Topic = LocalServices.EventsTopic,
                CallsPerSecond = callsPerSecond,
                PoisonRatio = 0.005,
                RunId = "demo" + DateTimeOffset.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture),
            });
            var feed = new RecoveryFeed(stack.BootstrapServers);
            using var metrics = new ServiceMetrics(stack.ServiceHttp);

            var background = new List<Task>(switches.Select(s => s.RunAsync(cancellationToken)))
            {
                simulator.RunAsync(cancellationToken),
                feed.RunAsync(cancellationToken),
            };
            var view = new DemoView(simulator, switches, feed, metrics);
            await (plain ? view.PrintAsync(cancellationToken) : view.LiveAsync(cancellationToken));

            Say("Stopping...");
            await Task.WhenAll(background).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var emulated in switches)
            {
                await emulated.DisposeAsync();
            }

            Say(view.Summary());
        }

        Say("Stopped: simulator, switches, service, redis-server and Kafka.");
        return 0;
    }

    private void Say(string line)
    {
        if (plain)
        {
            Console.WriteLine(line);
        }
        else
        {
            AnsiConsole.MarkupLine("[grey]{0}[/]", Markup.Escape(line));
        }
    }
}
