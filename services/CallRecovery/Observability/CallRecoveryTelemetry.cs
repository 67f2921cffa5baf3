using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace CallRecovery.Observability;

/// <summary>The service's one <see cref="ActivitySource"/> and one <see cref="Meter"/>, and every instrument on it.</summary>
public sealed class CallRecoveryTelemetry : IDisposable
{
    public const string Name = "CallRecovery";

    private readonly Meter _meter;
    private readonly Counter<long> _eventsConsumed;
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _callbacksSent;
    private readonly Counter<long> _outcomes;
    private readonly Counter<long> _reportsRefused;
    private readonly Counter<long> _retried;
    private readonly Counter<long> _deferred;
    private readonly Counter<long> _compensations;
    private readonly Counter<long> _wouldHaveCalled;
    private readonly Counter<long> _held;
    private readonly Counter<long> _vulnerable;
    private readonly Counter<long> _redialled;
    private readonly Histogram<double> _grace;
    private readonly Counter<long> _released;
    private readonly Counter<long> _incidents;
    private readonly Histogram<double> _dropToCallback;
    private readonly Histogram<double> _callbackLateness;
    private readonly Histogram<double> _dropToReconnected;

    public CallRecoveryTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _eventsConsumed = _meter.CreateCounter<long>("callrecovery.events.consumed", "{event}", "Network events read from Kafka.");
        _decisions = _meter.CreateCounter<long>("callrecovery.decisions", "{decision}", "Recovery decisions made, by reason (replays are not counted again).");
        _deadLettered = _meter.CreateCounter<long>("callrecovery.events.dead_lettered", "{event}", "Events sent to the dead-letter topic.");
        _callbacksSent = _meter.CreateCounter<long>("callrecovery.callbacks.sent", "{command}", "Callback commands sent to switches (retries included, tagged).");
        _outcomes = _meter.CreateCounter<long>("callrecovery.recoveries.outcomes", "{recovery}", "Recoveries that reached a final outcome, by outcome.");
        _reportsRefused = _meter.CreateCounter<long>("callrecovery.switch.reports_refused", "{report}", "Switch acknowledgements and reports refused (malformed, forbidden, or failed in the service), by reason.");
        _retried = _meter.CreateCounter<long>("callrecovery.callbacks.retried", "{callback}", "Callbacks that ended without reconnecting (no answer, busy, a passing failure) and are tried again, by outcome.");
        _wouldHaveCalled = _meter.CreateCounter<long>("callrecovery.callbacks.shadow", "{callback}", "Callbacks that would have been sent, of recoveries run in shadow (Rollout:Mode, or outside the canary): nothing was sent.");
        _wouldHaveCalled.Add(0);
        _compensations = _meter.CreateCounter<long>("callrecovery.compensations", "{compensation}", "Compensation events written (one per recovery that ended without a reconnect), by outcome and credit (credited, capped: the daily cap was reached, none: no credit configured).");
        _deferred = _meter.CreateCounter<long>("callrecovery.callbacks.deferred", "{callback}", "Delayed callbacks that came due in the customer's quiet hours and wait for their end.");
        _held = _meter.CreateCounter<long>("callrecovery.recoveries.held", "{recovery}", "Recoveries held instead of queued, by hold (reachability: waiting for the customer's coverage; outage: an outage incident).");
        _released = _meter.CreateCounter<long>("callrecovery.recoveries.released", "{recovery}", "Held recoveries released to their switch's queue, by hold.");
        _vulnerable = _meter.CreateCounter<long>("callrecovery.recoveries.vulnerable", "{recovery}", "Recoveries of vulnerable customers (first in their switch's queue, priority high), by where the flag came from (event: the drop report; crm: the API).");
        _redialled = _meter.CreateCounter<long>("callrecovery.recoveries.redialled", "{recovery}", "Recoveries cancelled because the parties redialled by themselves, by whether the callback had been sent already (true: the grace period did not wait long enough).");
        _grace = _meter.CreateHistogram<double>("callrecovery.grace.duration", "s", "The grace period chosen for each recovery when it is learned (Switching:LearnedGrace), by basis (cell, area, rare, default).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 120, 300] });
        _incidents = _meter.CreateCounter<long>("callrecovery.outage.incidents", "{incident}", "Outage incidents declared, by scope (cell, node).");
        // Rare events start at zero, so that dashboards and alerts see a series before the first one (not an absent one).
        foreach (var hold in (string[])["reachability", "outage"])
        {
            Held(hold, 0);
            Released(hold, 0);
        }

        foreach (var scope in (string[])["cell", "node"])
        {
            _incidents.Add(0, new KeyValuePair<string, object?>("callrecovery.outage.scope", scope));
        }

        foreach (var source in (string[])["event", "crm"])
        {
            _vulnerable.Add(0, new KeyValuePair<string, object?>("callrecovery.vulnerable.source", source));
        }

        _retried.Add(0);
        _deferred.Add(0);
        _redialled.Add(0, new KeyValuePair<string, object?>("callrecovery.callback_sent", true));
        _redialled.Add(0, new KeyValuePair<string, object?>("callrecovery.callback_sent", false));
        _dropToCallback = _meter.CreateHistogram<double>("callrecovery.drop_to_callback.duration", "s", "From the drop to the first callback command sent to a switch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 19, 20, 20.05, 20.1, 20.25, 20.5, 21, 22, 25, 30, 45, 60, 120, 300] });
        _callbackLateness = _meter.CreateHistogram<double>("callrecovery.callback.lateness", "s", "From when a callback was due (the end of the grace period) to its first command sent: the service's own delay.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        _dropToReconnected = _meter.CreateHistogram<double>("callrecovery.drop_to_reconnected.duration", "s", "From the drop to the reconnected parties being bridged.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600] });
    }

    public static ActivitySource ActivitySource { get; } = new(Name);

    /// <summary>The service's meter, for the owners of observable state (consumer lag, switch connections) to register their gauges on.</summary>
    public Meter Meter => _meter;

    public void EventsConsumed(int count, string topic) =>
        _eventsConsumed.Add(count, new KeyValuePair<string, object?>("messaging.destination.name", topic));

    /// <summary>A decision, by its reason's wire name (accepted, duplicate, ...).</summary>
    public void Decided(string reason) =>
        _decisions.Add(1, new KeyValuePair<string, object?>("callrecovery.decision.reason", reason));

    public void DeadLettered(string errorCode) =>
        _deadLettered.Add(1, new KeyValuePair<string, object?>("error.type", errorCode));

    public void CallbackSent(string switchId, int attempt, TimeSpan sinceDrop, TimeSpan sinceDue)
    {
        _callbacksSent.Add(1, new KeyValuePair<string, object?>("callrecovery.switch.id", switchId), new KeyValuePair<string, object?>("callrecovery.retry", attempt > 1));
        if (attempt == 1)
        {
            _dropToCallback.Record(sinceDrop.TotalSeconds, new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));
            _callbackLateness.Record(Math.Max(0, sinceDue.TotalSeconds), new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));
        }
    }

    public void RecoveryEnded(string outcome, string switchId) =>
        _outcomes.Add(1, new KeyValuePair<string, object?>("callrecovery.outcome", outcome), new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));

    public void CallbackRetried(string outcome, string switchId) =>
        _retried.Add(1, new KeyValuePair<string, object?>("callrecovery.outcome", outcome), new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));

    public void WouldHaveCalled(string switchId) =>
        _wouldHaveCalled.Add(1, new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));

    public void Compensated(string outcome, string credit) =>
        _compensations.Add(1, new KeyValuePair<string, object?>("callrecovery.outcome", outcome), new KeyValuePair<string, object?>("callrecovery.compensation.credit", credit));

    /// <summary>A vulnerable customer's recovery created; <paramref name="source"/>: event or crm.</summary>
    public void VulnerableRecovery(string source) =>
        _vulnerable.Add(1, new KeyValuePair<string, object?>("callrecovery.vulnerable.source", source));

    public void RedialCancelled(bool callbackSent) =>
        _redialled.Add(1, new KeyValuePair<string, object?>("callrecovery.callback_sent", callbackSent));

    /// <summary>A learned grace chosen; <paramref name="basis"/> as stored ("cell: ..."), its kind before the colon is the tag.</summary>
    public void GraceChosen(TimeSpan grace, string basis) =>
        _grace.Record(grace.TotalSeconds, new KeyValuePair<string, object?>("callrecovery.grace.basis", basis.Split(':', 2)[0]));

    public void CallbackDeferred(string switchId) =>
        _deferred.Add(1, new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));

    public void Held(string hold, int count = 1) =>
        _held.Add(count, new KeyValuePair<string, object?>("callrecovery.hold", hold));

    public void Released(string hold, int count = 1) =>
        _released.Add(count, new KeyValuePair<string, object?>("callrecovery.hold", hold));

    public void IncidentDeclared(string scope) =>
        _incidents.Add(1, new KeyValuePair<string, object?>("callrecovery.outage.scope", scope));

    public void ReportRefused(string reason, string switchId) =>
        _reportsRefused.Add(1, new KeyValuePair<string, object?>("callrecovery.refusal_reason", reason), new KeyValuePair<string, object?>("callrecovery.switch.id", switchId));

    public void Reconnected(TimeSpan sinceDrop) => _dropToReconnected.Record(sinceDrop.TotalSeconds);

    public void Dispose() => _meter.Dispose();
}
