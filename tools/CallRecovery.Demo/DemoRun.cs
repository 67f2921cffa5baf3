using System.Globalization;
using System.Net.Http.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.SwitchEmulator;
using CallRecovery.TrafficSimulator;
using Spectre.Console;

namespace CallRecovery.Demo;

/// <summary>
/// Starts the local stack, the traffic and the switches, shows what happens, and stops it all. The traffic includes
/// radio-loss drops whose party re-attaches later (or, one in ten, never: customer unreachable) and an outage: 30 s
/// into the run, and every 2 minutes after, cell 234-15-outage-01 fails (40 calls drop at once) and is back in
/// service 20 s later. The switches declare an admission rate, so held recoveries are released at a pace, and the
/// one instance of switch-man leaves every first callback unanswered, so the service calls again.
/// </summary>
/// <param name="callsPerSecond">Simulated calls per second.</param>
/// <param name="plain">Plain text blocks instead of the live dashboard.</param>
/// <param name="quietHours">Keep the service's quiet hours (its default); false turns them off, for a demo at night.</param>
/// <param name="dashboard">Start the Aspire dashboard and send it the service's traces, logs and metrics (a link in each story).</param>
public sealed class DemoRun(double callsPerSecond, bool plain, bool quietHours = true, bool dashboard = true)
{
    /// <summary>Switching nodes of the simulated network and the switch pools that place their callbacks.</summary>
    private static readonly Dictionary<string, string> ServiceSettings = new()
    {
        ["Switching:Routes:msc-lon-1"] = "switch-lon",
        ["Switching:Routes:msc-man-1"] = "switch-man",
        ["Switching:DefaultSwitch"] = "switch-ims",
        // Redials in the simulated traffic come 3-12 s after the drop, by area; the grace period learns each cell's and
        // area's (5 s until it has seen 10 drops there), so most redials cancel their recovery before its callback.
        ["Switching:GracePeriod"] = "00:00:05",
        ["Switching:LearnedGrace:Enabled"] = "true",
        ["Switching:LearnedGrace:Min"] = "00:00:02",
        ["Switching:LearnedGrace:Max"] = "00:00:30",
        ["Switching:LearnedGrace:MinDrops"] = "10",
        ["Switching:Announcement:Languages:+44"] = "en-GB",

        // Shorter than the service's defaults (5 min, 60 s) so that a demo shows customers who never came back
        // (customer unreachable) and callbacks tried again within a few minutes. Radio-loss parties re-attach within 40 s.
        ["Switching:CallbackDeadline"] = "00:02:00",
        ["Retries:Gap"] = "00:00:20",
    };

    /// <summary>The simulated outage: first 30 s into the run, then every 2 minutes; the cell is back after 20 s.</summary>
    private static readonly TimeSpan OutageFirstAfter = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan OutageEvery = TimeSpan.FromMinutes(2);

    private static readonly TimeSpan OutageDuration = TimeSpan.FromSeconds(20);

    /// <summary>The kill-switch drill: callbacks paused this long after the start, for <see cref="KillSwitchHold"/>.</summary>
    private static readonly TimeSpan KillSwitchAt = TimeSpan.FromSeconds(70);

    private static readonly TimeSpan KillSwitchHold = TimeSpan.FromSeconds(10);

    /// <summary>Calls that drop when the cell fails: over the service's threshold (20 from one cell within 10 s).</summary>
    private const int OutageCalls = 40;

    /// <summary>Commands per second each switch declares it takes: at least 20, and never below the call rate, so ordinary traffic is not held back.</summary>
    private uint AdmissionRate => (uint)Math.Clamp(Math.Ceiling(callsPerSecond), 20, 100_000);

    private static readonly (string SwitchId, int Instances)[] Pools = [("switch-lon", 2), ("switch-man", 1), ("switch-ims", 1)];

    /// <summary>The pool whose first callbacks nobody answers, so the service's retries show.</summary>
    private const string FirstCallbackUnanswered = "switch-man";

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Say("Starting embedded Kafka (librdkafka mock cluster), redis-server" + (dashboard ? ", the Aspire dashboard" : string.Empty) + " and the service...");
        LocalServices stack;
        TraceDashboard? traces = null;
        try
        {
            var settings = new Dictionary<string, string>(ServiceSettings);
            if (!quietHours)
            {
                settings["QuietHours:Enabled"] = "false";
            }

            if (dashboard)
            {
                traces = await TraceDashboard.StartAsync(Path.Combine(Path.GetTempPath(), $"callrecovery-dashboard-{Environment.ProcessId}.log"), cancellationToken);
                // The service sends its traces, logs and metrics there (OpenTelemetry's standard variable).
                settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = traces.Otlp.ToString();
                // Metrics every 5 s instead of the SDK's default minute, so the dashboard's charts move while one watches.
                settings["OTEL_METRIC_EXPORT_INTERVAL"] = "5000";
            }

            stack = await LocalServices.StartAsync(settings, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            if (traces is not null)
            {
                await traces.DisposeAsync();
            }

            return 0;
        }

        await using (traces)
        await using (stack)
        {
            if (traces is not null)
            {
                Say($"Traces, logs and metrics in a browser (Aspire dashboard, process {traces.ProcessId}; this link signs in with this run's token): {traces.SignIn}");
            }

            Say($"Kafka {stack.BootstrapServers}  Redis 127.0.0.1:{stack.RedisPort}  service {stack.ServiceHttp} (switch API {stack.ServiceSwitching})");
            Say($"Processes: redis-server {stack.RedisProcessId}, service {stack.ServiceProcessId}. Service log: {stack.ServiceLog}");
            Say($"Why was a call recovered or not? While this runs, in another terminal: dotnet run --project tools/CallRecovery.Lookup -- --service {stack.ServiceSwitching} call <call id from a story>");
            Say($"The HTTP API takes this run's operator token: curl -H \"Authorization: Bearer $(cat {stack.Credentials!.TokenPath})\" {stack.ServiceHttp}v1/calls/<call id>");
            Say($"Kill switch: curl -X PUT -H \"Authorization: Bearer $(cat {stack.Credentials.TokenPath})\" -H 'Content-Type: application/json' -d '{{\"paused\":true,\"reason\":\"why\"}}' {stack.ServiceHttp}v1/rollout (the demo pulls it itself {KillSwitchAt.TotalSeconds:0} s in, for {KillSwitchHold.TotalSeconds:0} s)");

            var switches = Pools.SelectMany(pool => Enumerable.Range(1, pool.Instances).Select(i => new EmulatedSwitch(new SwitchEmulatorOptions
            {
                ServiceAddress = stack.ServiceSwitching,
                SwitchId = pool.SwitchId,
                InstanceId = $"{pool.SwitchId}-{i}",
                RejectRatio = 0.05,
                StageDelay = TimeSpan.FromMilliseconds(400),
                Seed = pool.SwitchId.Length * 31 + i,
                MaxCommandsPerSecond = AdmissionRate,

                // One pool never answers a first callback (the outcome mix leaves some unanswered everywhere).
                FirstCallbackOutcome = pool.SwitchId == FirstCallbackUnanswered ? Outcome.NoAnswer : null,
            }))).ToList();
            var simulator = new TrafficSimulator.TrafficSimulator(new TrafficOptions
            {
                BootstrapServers = stack.BootstrapServers,
                Topic = LocalServices.EventsTopic,
                CallsPerSecond = callsPerSecond,
                PoisonRatio = 0.005,
                // Some customers answer "not now" themselves (an SMS reply, USSD, the app): their callbacks are cancelled.
                CustomerReplyRatio = 0.03,
                // A few customers are flagged vulnerable by the operator's systems: their callbacks go first.
                VulnerableRatio = 0.02,
                // The network's own cells (40 areas of 10), so each is seen often enough to learn its redials.
                CellAreas = 40,
                RunId = "demo" + DateTimeOffset.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture),
                OutageEvery = OutageEvery,
                OutageFirstAfter = OutageFirstAfter,
                OutageDuration = OutageDuration,
                OutageCalls = OutageCalls,
            });
            Say($"Scenario: radio-loss drops wait for the party to re-attach ({simulator.Options.ReattachDelayMin.TotalSeconds:0}-{simulator.Options.ReattachDelayMax.TotalSeconds:0} s; {simulator.Options.NeverReattachRatio:P0} never do); " +
                $"cell {simulator.Options.OutageCell} fails {OutageFirstAfter.TotalSeconds:0} s in and every {OutageEvery.TotalMinutes:0} min ({OutageCalls} calls drop, back after {OutageDuration.TotalSeconds:0} s); " +
                $"{simulator.Options.CustomerReplyRatio:P0} of customers answer \"not now\" themselves {simulator.Options.CustomerReplyDelay.TotalSeconds:0} s after the drop; " +
                $"{simulator.Options.VulnerableRatio:P0} are flagged vulnerable (their callbacks go first in the switch's queue); " +
                $"switches take {AdmissionRate} commands/s; {FirstCallbackUnanswered} leaves first callbacks unanswered; callback deadline 2 min, retries 20 s apart; quiet hours {(quietHours ? "on (21:00-09:00 local: delayed callbacks end as QuietHours)" : "off")}.");
            // The simulator's and the switches' own spans (a report's publish; placing each callback, its stages) join the
            // recoveries' traces there, with their counts and log lines.
            await using var tools = traces is null ? null : new DemoTelemetry(traces.Otlp, simulator, switches);
            var feed = new RecoveryFeed(stack.BootstrapServers, traces);
            using var metrics = new ServiceMetrics(stack.ServiceHttp);

            var background = new List<Task>(switches.Select(s => s.RunAsync(cancellationToken)))
            {
                simulator.RunAsync(cancellationToken),
                feed.RunAsync(cancellationToken),
                KillSwitchDrillAsync(stack.ServiceHttp, await File.ReadAllTextAsync(stack.Credentials.TokenPath, cancellationToken), cancellationToken),
            };
            var view = new DemoView(simulator, switches, feed, metrics, quietHours);
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

    /// <summary>Pauses every callback through the API, says so, and resumes them: the held callbacks then go, paced.</summary>
    private async Task KillSwitchDrillAsync(Uri service, string token, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token.Trim());
        try
        {
            await Task.Delay(KillSwitchAt, cancellationToken);
            using (var paused = await http.PutAsJsonAsync(new Uri("v1/rollout", UriKind.Relative), new { paused = true, reason = "demo: kill switch drill" }, cancellationToken))
            {
                Say(paused.IsSuccessStatusCode
                    ? $"Kill switch pulled (PUT /v1/rollout): no new callback leaves any replica; due ones wait in their queues for {KillSwitchHold.TotalSeconds:0} s."
                    : $"Kill switch drill: the service answered {(int)paused.StatusCode}.");
            }

            await Task.Delay(KillSwitchHold, cancellationToken);
            using var resumed = await http.PutAsJsonAsync(new Uri("v1/rollout", UriKind.Relative), new { paused = false, reason = "demo: drill over" }, cancellationToken);
            Say(resumed.IsSuccessStatusCode
                ? "Kill switch released: the held callbacks go out now, paced by each switch's rate."
                : $"Kill switch drill: the service answered {(int)resumed.StatusCode} to the resume.");
        }
        catch (OperationCanceledException)
        {
            // The demo ends.
        }
        catch (HttpRequestException e)
        {
            Say($"Kill switch drill: the service could not be reached ({e.HttpRequestError}).");
        }
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
