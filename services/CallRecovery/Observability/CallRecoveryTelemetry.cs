using System.Diagnostics;
using System.Diagnostics.Metrics;
using CallRecovery.Decisions;

namespace CallRecovery.Observability;

/// <summary>The service's one <see cref="ActivitySource"/> and one <see cref="Meter"/>, and every instrument on it.</summary>
public sealed class CallRecoveryTelemetry : IDisposable
{
    public const string Name = "CallRecovery";

    private readonly Meter _meter;
    private readonly Counter<long> _eventsConsumed;
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _deadLettered;

    public CallRecoveryTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _eventsConsumed = _meter.CreateCounter<long>("callrecovery.events.consumed", "{event}", "Network events read from Kafka.");
        _decisions = _meter.CreateCounter<long>("callrecovery.decisions", "{decision}", "Recovery decisions made, by reason (replays are not counted again).");
        _deadLettered = _meter.CreateCounter<long>("callrecovery.events.dead_lettered", "{event}", "Events sent to the dead-letter topic.");
    }

    public static ActivitySource ActivitySource { get; } = new(Name);

    public Meter Meter => _meter;

    public void EventsConsumed(int count, string topic) =>
        _eventsConsumed.Add(count, new KeyValuePair<string, object?>("messaging.destination.name", topic));

    public void Decided(DecisionReason reason) =>
        _decisions.Add(1, new KeyValuePair<string, object?>("callrecovery.decision.reason", reason.ToWireName()));

    public void DeadLettered(string errorCode) =>
        _deadLettered.Add(1, new KeyValuePair<string, object?>("error.type", errorCode));

    public void Dispose() => _meter.Dispose();
}
