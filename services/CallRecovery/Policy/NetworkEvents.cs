namespace CallRecovery.Policy;

/// <summary>What one Kafka message turned out to be.</summary>
public abstract record IngestedEvent(string EventId, string CallId);

public sealed record DropReported(CallDrop Drop) : IngestedEvent(Drop.EventId, Drop.CallId);

public sealed record ConnectionReported(string EventId, string CallId, string Caller, string Callee, DateTimeOffset AnswerTime, string SwitchingNode, bool Emergency, string ServingCell = "")
    : IngestedEvent(EventId, CallId);

/// <summary>The subscriber can be reached again (re-attached, re-registered): callbacks waiting for their coverage go.</summary>
public sealed record ReachabilityReported(string EventId, string Number, DateTimeOffset At, string ServingCell) : IngestedEvent(EventId, string.Empty);

/// <summary>
/// The customer answered us (an SMS reply, USSD, the app): their queued callbacks are cancelled, and with
/// <paramref name="NotFor"/> no new ones are made for that long.
/// </summary>
public sealed record CustomerResponse(string EventId, string Number, string Channel, TimeSpan? NotFor, DateTimeOffset At) : IngestedEvent(EventId, string.Empty);

/// <summary>A cell carries traffic again: an outage incident of the cell (or of its node) ends.</summary>
public sealed record CellInServiceReported(string EventId, string ServingCell, DateTimeOffset At, string SwitchingNode) : IngestedEvent(EventId, string.Empty);

/// <summary>Not usable: goes to the dead-letter topic with <see cref="ErrorCode"/> and <see cref="Message"/>. Ids are empty when unknown.</summary>
public sealed record RejectedEvent(string ErrorCode, string Message, string EventId, string CallId) : IngestedEvent(EventId, CallId);
