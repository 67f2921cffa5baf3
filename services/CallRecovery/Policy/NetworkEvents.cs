namespace CallRecovery.Policy;

/// <summary>What one Kafka message turned out to be.</summary>
public abstract record IngestedEvent(string EventId, string CallId);

public sealed record DropReported(CallDrop Drop) : IngestedEvent(Drop.EventId, Drop.CallId);

public sealed record ConnectionReported(string EventId, string CallId, string Caller, string Callee, DateTimeOffset AnswerTime, string SwitchingNode, bool Emergency)
    : IngestedEvent(EventId, CallId);

/// <summary>Not usable: goes to the dead-letter topic with <see cref="ErrorCode"/> and <see cref="Message"/>. Ids are empty when unknown.</summary>
public sealed record RejectedEvent(string ErrorCode, string Message, string EventId, string CallId) : IngestedEvent(EventId, CallId);
