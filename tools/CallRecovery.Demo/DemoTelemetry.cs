using System.Diagnostics.Metrics;
using CallRecovery.SwitchEmulator;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CallRecovery.Demo;

/// <summary>
/// The demo's traffic simulator and emulated switches in the dashboard beside the service, each a resource of its
/// own: their spans (a report's publish, whose traceparent the service continues; a switch placing a callback and
/// its stages), their counts as metrics, and a log line when something happens (a cell fails, a switch connects,
/// rejects commands or is told to cancel). Nothing here carries a phone number.
/// </summary>
internal sealed partial class DemoTelemetry : IAsyncDisposable
{
    private static readonly TimeSpan LogEvery = TimeSpan.FromSeconds(5);

    private readonly List<IDisposable> _providers = [];
    private readonly Meter _simulatorMeter = new(TrafficSimulator.TrafficSimulator.ActivitySource.Name);
    private readonly Meter _switchMeter = new(EmulatedSwitch.ActivitySource.Name);
    private readonly ILoggerFactory _simulatorLogs;
    private readonly ILoggerFactory _switchLogs;
    private readonly ILogger _simulatorLog;
    private readonly ILogger _switchLog;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watching;

    public DemoTelemetry(Uri otlp, TrafficSimulator.TrafficSimulator simulator, IReadOnlyList<EmulatedSwitch> switches)
    {
        _simulatorLogs = Resource(otlp, "traffic-simulator", TrafficSimulator.TrafficSimulator.ActivitySource.Name);
        _switchLogs = Resource(otlp, "switch-emulator", EmulatedSwitch.ActivitySource.Name);
        _simulatorLog = _simulatorLogs.CreateLogger("CallRecovery.TrafficSimulator");
        _switchLog = _switchLogs.CreateLogger("CallRecovery.SwitchEmulator");

        _simulatorMeter.CreateObservableCounter("trafficsim.calls", () => simulator.Counters.Calls, "{call}", "Calls the simulated network carried (their first report published).");
        _simulatorMeter.CreateObservableCounter("trafficsim.drops", () => simulator.Counters.Drops, "{call}", "Calls that ended in a network drop, an outage's included.");
        _simulatorMeter.CreateObservableCounter("trafficsim.outage.drops", () => simulator.Counters.OutageDrops, "{call}", "Calls dropped by a failed cell.");
        _simulatorMeter.CreateObservableCounter("trafficsim.redials", () => simulator.Counters.Redials, "{call}", "The parties' own redials after a drop.");
        _simulatorMeter.CreateObservableCounter("trafficsim.customer_replies", () => simulator.Counters.CustomerReplies, "{event}", "Customers' own \"not now\" (CustomerResponded).");
        _simulatorMeter.CreateObservableCounter("trafficsim.events.published", () => simulator.Counters.EventsPublished, "{event}", "Every message published to the events topic, poison included.");
        _simulatorMeter.CreateObservableCounter("trafficsim.events.poison", () => simulator.Counters.Poison, "{event}", "Garbage or invalid messages published on purpose.");

        _switchMeter.CreateObservableCounter("switch.commands.received", () => PerSwitch(switches, s => s.Received.Count), "{command}", "Callback commands each emulated switch received.");
        _switchMeter.CreateObservableCounter("switch.callbacks.placed", () => PerSwitch(switches, s => s.Placements.Count), "{call}", "Callbacks each emulated switch placed.");
        _switchMeter.CreateObservableCounter("switch.commands.rejected", () => PerSwitch(switches, s => s.Rejected), "{command}", "Commands each emulated switch rejected (its reject ratio).");
        _switchMeter.CreateObservableCounter("switch.cancels.received", () => PerSwitch(switches, s => s.CancelsReceived.Count), "{command}", "Cancels each emulated switch was sent.");
        _switchMeter.CreateObservableCounter("switch.connections", () => PerSwitch(switches, s => s.Connections), "{connection}", "Streams each emulated switch opened to the service.");

        simulator.OutageStarted += (_, outage) => LogOutage(_simulatorLog, outage.Number, outage.Cell, outage.Calls.Count, (outage.End - outage.Start).TotalSeconds);
        _watching = WatchAsync(switches, _stop.Token);

        ILoggerFactory Resource(Uri endpoint, string name, string source)
        {
            var resource = ResourceBuilder.CreateDefault().AddService(name);
            _providers.Add(Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).AddSource(source).AddOtlpExporter(o => o.Endpoint = endpoint).Build());
            _providers.Add(Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(source)
                .AddOtlpExporter((o, reader) =>
                {
                    o.Endpoint = endpoint;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 5_000;
                }).Build());
            return LoggerFactory.Create(logging => logging.AddOpenTelemetry(o =>
            {
                o.SetResourceBuilder(resource);
                o.AddOtlpExporter(e => e.Endpoint = endpoint);
            }));
        }
    }

    private static IEnumerable<Measurement<long>> PerSwitch(IReadOnlyList<EmulatedSwitch> switches, Func<EmulatedSwitch, long> count) =>
        switches.Select(s => new Measurement<long>(count(s), new KeyValuePair<string, object?>("callrecovery.switch.id", s.Options.SwitchId), new KeyValuePair<string, object?>("switch.instance", s.Options.InstanceId)));

    /// <summary>Logs what changed at each switch since the last look: a new stream, rejected commands, cancels.</summary>
    private async Task WatchAsync(IReadOnlyList<EmulatedSwitch> switches, CancellationToken cancellationToken)
    {
        var seen = switches.ToDictionary(s => s, _ => (Connections: 0, Rejected: 0, Cancels: 0));
        using var timer = new PeriodicTimer(LogEvery);
        try
        {
            do
            {
                foreach (var emulated in switches)
                {
                    var (connections, rejected, cancels) = seen[emulated];
                    var now = (Connections: emulated.Connections, Rejected: emulated.Rejected, Cancels: emulated.CancelsReceived.Count);
                    if (now.Connections > connections)
                    {
                        LogConnected(_switchLog, emulated.Options.InstanceId, emulated.Options.SwitchId, now.Connections, emulated.WelcomeRate);
                    }

                    if (now.Rejected > rejected)
                    {
                        LogRejected(_switchLog, emulated.Options.InstanceId, now.Rejected - rejected, LogEvery.TotalSeconds);
                    }

                    if (now.Cancels > cancels)
                    {
                        LogCancels(_switchLog, emulated.Options.InstanceId, now.Cancels - cancels, LogEvery.TotalSeconds);
                    }

                    seen[emulated] = now;
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException)
        {
            // The demo stops.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _watching;
        _stop.Dispose();
        // Flushed as they go: the last spans, metrics and log lines reach the dashboard before it stops.
        _simulatorLogs.Dispose();
        _switchLogs.Dispose();
        foreach (var provider in _providers)
        {
            provider.Dispose();
        }

        _simulatorMeter.Dispose();
        _switchMeter.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outage {Number}: cell {Cell} fails, {Calls} answered calls drop; back in service after {Seconds:0} s")]
    private static partial void LogOutage(ILogger logger, int number, string cell, int calls, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Switch {Instance} ({SwitchId}) connected to the service (stream {Stream}); the service welcomed it at {Rate} commands/s")]
    private static partial void LogConnected(ILogger logger, string instance, string switchId, int stream, uint rate);

    [LoggerMessage(Level = LogLevel.Information, Message = "Switch {Instance} rejected {Count} commands in the last {Seconds:0} s (its reject ratio): the service sends them again")]
    private static partial void LogRejected(ILogger logger, string instance, int count, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Switch {Instance} was told to cancel {Count} callbacks in the last {Seconds:0} s (redials, customers' own answers, opt-outs)")]
    private static partial void LogCancels(ILogger logger, string instance, int count, double seconds);
}
