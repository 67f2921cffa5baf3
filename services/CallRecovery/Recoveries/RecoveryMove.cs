using CallRecovery.Contracts.V1;

namespace CallRecovery.Recoveries;

/// <summary>
/// Something that happened to a recovery, asked of the door (<see cref="RecoveryMoves"/>): which recovery, the
/// trigger, and what the trigger's rules in <see cref="RecoveryLifecycle"/> need to know. The switch's moves name
/// the switch acting (a recovery of another switch is refused) and the connection the report came on.
/// </summary>
public abstract record RecoveryMove(string CallId)
{
    public abstract RecoveryTrigger Trigger { get; }

    /// <summary>The switch that reported this; empty when the service itself acts.</summary>
    public virtual string ActingSwitch => string.Empty;

    /// <summary>The switch connection a report came on (its window place, and where a cancel of a superseded delivery goes); empty for the service's own moves.</summary>
    public virtual string ConnectionId => string.Empty;
}

/// <summary>A created (or already stored: <paramref name="Created"/> false) recovery is put where it waits: the switch's queue, or held with its deadline; and filed for cancels and releases.</summary>
public sealed record ScheduleMove(string CallId, bool Created) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Schedule;
}

/// <summary>A replica sends the command on a connection of its switch, at <paramref name="SendAt"/> (its slot of the switch's pace) or at once.</summary>
public sealed record DispatchMove(string CallId, string SwitchId, string Connection, DateTimeOffset? SendAt = null) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Dispatch;

    public override string ActingSwitch => SwitchId;

    public override string ConnectionId => Connection;
}

/// <summary>The switch accepted a delivery.</summary>
public sealed record AcceptMove(string CallId, string SwitchId, int Attempt, string Connection) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Accept;

    public override string ActingSwitch => SwitchId;

    public override string ConnectionId => Connection;
}

/// <summary>The switch rejected a delivery.</summary>
public sealed record RejectMove(string CallId, string SwitchId, int Attempt, string Detail, string Connection) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Reject;

    public override string ActingSwitch => SwitchId;

    public override string ConnectionId => Connection;
}

/// <summary>The switch reported a stage of a callback (0: the callback out now).</summary>
public sealed record ProgressMove(string CallId, string SwitchId, Stage Stage, DateTimeOffset At, int CallbackAttempt, string Connection) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Progress;

    public override string ActingSwitch => SwitchId;

    public override string ConnectionId => Connection;
}

/// <summary>When another callback follows an outcome worth one: after <paramref name="Gap"/>, at most <paramref name="MaxCallbackAttempts"/> callbacks in all.</summary>
public sealed record RetryPlan(TimeSpan Gap, int MaxCallbackAttempts);

/// <summary>The switch reported what a callback came to (0: the callback out now). <paramref name="Retry"/> is set when the outcome is worth another callback.</summary>
public sealed record OutcomeMove(
    string CallId,
    string SwitchId,
    Outcome Outcome,
    DateTimeOffset At,
    TimeSpan TalkTime,
    string FailureCause,
    int SurveyScore,
    string ReconnectCallId,
    int CallbackAttempt,
    RetryPlan? Retry,
    string Connection) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Outcome;

    public override string ActingSwitch => SwitchId;

    public override string ConnectionId => Connection;
}

/// <summary>Why a recovery is cancelled, which decides whether the cancel applies to it.</summary>
public abstract record CancelReason(string Detail);

/// <summary>The dispatch step found a reason not to call (an opt-out, an emergency call, a reconnection since the drop).</summary>
public sealed record FoundAtDispatch(string Detail) : CancelReason(Detail);

/// <summary>
/// <paramref name="Caller"/> and <paramref name="Callee"/> reached each other in <paramref name="ConnectedCallId"/>
/// (not the dropped call), answered then: cancels only recoveries between those two (either way round).
/// </summary>
public sealed record Redialled(string ConnectedCallId, DateTimeOffset AnsweredAt, string Caller, string Callee)
    : CancelReason("the parties reached each other before the callback")
{
    /// <summary>The two parties, in one order whichever called whom.</summary>
    public (string, string) Pair => Unordered(Caller, Callee);

    /// <summary>Is this a call between <paramref name="a"/> and <paramref name="b"/> (either way round)?</summary>
    public bool Between(string a, string b) => Pair == Unordered(a, b);

    /// <summary>
    /// Is this a call after the drop of <paramref name="droppedCallId"/> at <paramref name="dropTime"/>: not the dropped
    /// call itself, nor one answered before the drop (less the clock tolerance between network elements)?
    /// </summary>
    public bool IsAfterDrop(string droppedCallId, DateTimeOffset dropTime, TimeSpan clockTolerance) =>
        ConnectedCallId != droppedCallId && AnsweredAt > dropTime - clockTolerance;

    private static (string, string) Unordered(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);
}

/// <summary>A party may no longer be called (opted out, in or after an emergency call): cancels only recoveries that have <paramref name="Number"/> as a party.</summary>
public sealed record PartyBarred(string Number, string Detail) : CancelReason(Detail);

/// <summary>
/// The customer <paramref name="Number"/> answered us at <paramref name="At"/> (by <paramref name="Channel"/>): their
/// callbacks of drops before then are cancelled (a later drop is a new question).
/// </summary>
public sealed record CustomerAnswered(string Number, DateTimeOffset At, string Channel, TimeSpan? NotFor)
    : CancelReason(NotFor is { } days ? $"the customer asked for no callbacks for {days.TotalDays:0} day(s) ({Channel})" : $"the customer asked us not to call back ({Channel})");

/// <summary>Cancelled on the customer's behalf through the API (CRM, the app), by <paramref name="By"/>.</summary>
public sealed record CancelledOnRequest(string By) : CancelReason("cancelled on the customer's request");

public sealed record CancelMove(string CallId, CancelReason Reason) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Cancel;
}

/// <summary>The deadline passed (the sweep found it); or, with <paramref name="QuietHours"/>, a delayed callback came due in quiet hours that outlast the deadline.</summary>
public sealed record ExpireMove(string CallId, string? QuietHours = null) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Expire;
}

/// <summary>
/// A shadow recovery reached the moment its command would have been sent (its slot of the switch's pace, or now): it
/// ends there, as "would have called at", and nothing is sent.
/// </summary>
public sealed record ShadowMove(string CallId, string SwitchId, DateTimeOffset At) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Shadow;

    public override string ActingSwitch => SwitchId;
}

/// <summary>An outage incident holds the recovery.</summary>
public sealed record HoldMove(string CallId, string IncidentId) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Hold;
}

/// <summary>What a held recovery waits for happened: its customer was reachable at <see cref="ReachableRelease.At"/>, or its incident ended.</summary>
public abstract record ReleaseMove(string CallId) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Release;
}

public sealed record ReachableRelease(string CallId, string Number, DateTimeOffset At) : ReleaseMove(CallId);

public sealed record IncidentRelease(string CallId, string IncidentId) : ReleaseMove(CallId);

/// <summary>A delayed callback came due in the customer's quiet hours: it waits until <paramref name="DueAt"/>.</summary>
public sealed record DeferMove(string CallId, DateTimeOffset DueAt, string Detail) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.Defer;
}

/// <summary>The latest delivery was not acknowledged in time (the sweep found it overdue in its switch's in-flight set).</summary>
public sealed record AckTimeoutMove(string CallId) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.AckTimeout;
}

/// <summary>The switch accepted a callback and has reported nothing for too long (the sweep found it).</summary>
public sealed record OutcomeTimeoutMove(string CallId, TimeSpan Timeout, TimeSpan BridgedTimeout) : RecoveryMove(CallId)
{
    public override RecoveryTrigger Trigger => RecoveryTrigger.OutcomeTimeout;
}
