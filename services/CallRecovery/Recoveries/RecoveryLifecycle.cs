using System.Collections.Frozen;
using System.Globalization;
using CallRecovery.Contracts.V1;

namespace CallRecovery.Recoveries;

/// <summary>Where a recovery stands. Decisions create it <see cref="Pending"/> (or <see cref="Held"/>); delivery and the switch move it on.</summary>
public enum RecoveryState
{
    /// <summary>Waiting for its grace period to end, for a live connection of its switch, to be offered again after a rejection, or for its next callback attempt.</summary>
    Pending,
    /// <summary>Sent to a switch connection (attempt n); not accepted yet.</summary>
    Dispatched,
    /// <summary>The switch accepted the command (or reported progress, which stands for a lost acceptance) and is calling back.</summary>
    Acknowledged,
    /// <summary>The switch reported the final outcome. Final.</summary>
    Completed,
    /// <summary>Given up on by the service: not accepted before its deadline, or accepted and never reported on. Final for us; only a switch's own outcome report moves it on.</summary>
    Expired,
    /// <summary>No longer wanted: the parties reached each other, or a party opted out or is under emergency protection. Final as <see cref="Expired"/>.</summary>
    Cancelled,
    /// <summary>
    /// Waiting for a condition before it may be queued: the customer to be reachable again after a radio loss, or
    /// the outage incident of the customer's cell or switching node to end. Out of the due set; its deadline runs.
    /// </summary>
    Held,
}

/// <summary>What can happen to a recovery.</summary>
public enum RecoveryTrigger
{
    /// <summary>A replica sends the command on a switch connection (a new attempt).</summary>
    Dispatch,
    /// <summary>The switch accepted an attempt.</summary>
    Accept,
    /// <summary>The switch rejected the current attempt (overloaded, not served, deadline passed).</summary>
    Reject,
    /// <summary>The attempt was not acknowledged in time: it goes round again.</summary>
    AckTimeout,
    /// <summary>The switch reported a progress stage.</summary>
    Progress,
    /// <summary>The switch reported the final outcome.</summary>
    Outcome,
    /// <summary>The parties reached each other, or a party may no longer be called.</summary>
    Cancel,
    /// <summary>The deadline passed before the switch accepted (or a delayed callback would fall in quiet hours that outlast it).</summary>
    Expire,
    /// <summary>An outage incident was declared in the recovery's cell or switching node.</summary>
    Hold,
    /// <summary>What a held recovery waited for happened: the customer is reachable again, or the outage ended.</summary>
    Release,
    /// <summary>The switch reported no answer or busy (or a passing failure), and another callback fits before the deadline.</summary>
    Retry,
    /// <summary>A delayed callback came due in the customer's quiet hours: it waits for their end.</summary>
    Defer,
    /// <summary>The recovery was created (or a replay found it stored): it is queued, or held with its deadline, and filed for cancels.</summary>
    Schedule,
    /// <summary>The switch accepted a callback and reported no outcome within the outcome timeout.</summary>
    OutcomeTimeout,
    /// <summary>A shadow recovery came to the moment its command would have been sent: it ends, nothing sent.</summary>
    Shadow,
}

/// <summary>What a transition makes the service do besides writing the recovery's new state.</summary>
[Flags]
public enum RecoveryEffects
{
    None = 0,
    /// <summary>Send the command to the switch connection that took it.</summary>
    SendCommand = 1,
    /// <summary>Tell the switch not to start (or not to go on with) this callback: a <c>CancelCommand</c> to the switch, wherever it is connected.</summary>
    CancelAtSwitch = 2,
    /// <summary>Publish the progress stage on the outcome topic.</summary>
    PublishStage = 4,
    /// <summary>Publish the outcome on the outcome topic: the recovery's final one, or (after a retry) the ended callback's (again, when it may not have been published).</summary>
    PublishOutcome = 8,
    /// <summary>Count the final outcome in the metrics (once per recovery and outcome).</summary>
    CountOutcome = 16,
    /// <summary>Put the command back in its switch's due set (after the rejection backoff, or at once).</summary>
    Requeue = 32,
    /// <summary>Take the command out of its switch's queue for good (due, in-flight, deadline and supervision sets).</summary>
    LeaveQueue = 64,
    /// <summary>Free the place the command held in a connection's window of unacknowledged commands.</summary>
    ReleaseWindow = 128,
    /// <summary>Put the command (back) in its switch's queue at the recovery's due time, with its deadline.</summary>
    Enqueue = 256,
    /// <summary>Take the command out of its switch's due and in-flight sets and keep (or add) its deadline: a held recovery still expires.</summary>
    Park = 512,
    /// <summary>Await the switch's outcome: the recovery is in its switch's supervision set until the outcome timeout.</summary>
    Supervise = 1024,
    /// <summary>File the recovery under its two parties and its switch, so cancels, releases and the sweep find it.</summary>
    Index = 2048,
    /// <summary>Publish that the callback was put off (quiet hours) and when it will be placed.</summary>
    PublishDeferral = 4096,
}

/// <summary>One allowed move: the state it leads to (the same state when only data is recorded), what it emits, and why.</summary>
public sealed record RecoveryRule(RecoveryState From, RecoveryTrigger Trigger, RecoveryState? To, RecoveryEffects Effects, string Why);

/// <summary>What the lifecycle decided about a move: the verdict, the trigger it applied (a dispatch past the deadline is an expiry), and the fields to write.</summary>
public sealed record RecoveryDecision(RecoveryVerdict Verdict, RecoveryState? From, RecoveryTrigger Trigger, IReadOnlyList<KeyValuePair<string, string>> Writes)
{
    public static RecoveryDecision Nothing(RecoveryVerdict verdict, RecoveryState? from, RecoveryTrigger trigger) => new(verdict, from, trigger, []);
}

/// <summary>
/// The life of a recovery, in one place: for each state and trigger, the state it leads to and what the service
/// does (<see cref="Rules"/>), and the conditions and trigger rewrites that decide which rule applies and what it
/// writes (<see cref="Decide"/>: pure, given the stored recovery and the time). The door (<see cref="RecoveryMoves"/>)
/// writes a decision only if the recovery did not change since it was read, so no two moves interleave.
/// <code>
///               Dispatch                 Accept / Progress                  Outcome
///   Pending ──────────────► Dispatched ───────────────────► Acknowledged ───────────► Completed
///      ▲  ◄──── Reject ──────┘  │ ▲ AckTimeout, Dispatch (attempt n+1)  │ OutcomeTimeout ─► Expired (no report)
///      │  ◄── Retry, Defer ─────┤ └─┘                                   │            ▲
///      │  ◄──────────────── Retry (no answer, busy: callback n+1) ──────┘            │ Outcome (the switch
///      └─ Cancel / Expire ──────┴──────────► Cancelled | Expired ───────────────────┘  acted after all)
///   Pending ── Accept (late) ──► Acknowledged;  Acknowledged ── Cancel (a party barred) ──► Cancelled
///   Held (radio loss, outage) ── Release ──► Pending;  Pending ── Hold ──► Held;  Held ── Cancel / Expire ──► ended
/// </code>
/// </summary>
public static class RecoveryLifecycle
{
    private const RecoveryEffects Ending = RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.CancelAtSwitch | RecoveryEffects.ReleaseWindow;
    private const RecoveryEffects Finishing = RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow;
    private const RecoveryEffects RetryingEffects = RecoveryEffects.PublishOutcome | RecoveryEffects.Enqueue | RecoveryEffects.ReleaseWindow;
    // The switch has it: out of the delivery queue and the window, awaiting the outcome.
    private const RecoveryEffects Taken = RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow | RecoveryEffects.Supervise;

    // Accepted: taken, and any newer delivery of the callback than the one accepted is withdrawn at the switch.
    private const RecoveryEffects Accepted = Taken | RecoveryEffects.CancelAtSwitch;

    public static IReadOnlyList<RecoveryRule> Rules { get; } =
    [
        // Pending: decided, or offered again after a rejection.
        new(RecoveryState.Pending, RecoveryTrigger.Schedule, null, RecoveryEffects.Enqueue | RecoveryEffects.Index, "created (or found by a replay): queued at its due time with its deadline, filed for cancels"),
        new(RecoveryState.Pending, RecoveryTrigger.Dispatch, RecoveryState.Dispatched, RecoveryEffects.SendCommand, "sent to a connection of its switch"),
        new(RecoveryState.Pending, RecoveryTrigger.Accept, RecoveryState.Acknowledged, Accepted, "a late acceptance of a delivery of this callback (rejected or not, the switch is calling): the switch has it now"),
        new(RecoveryState.Pending, RecoveryTrigger.Progress, RecoveryState.Acknowledged, RecoveryEffects.PublishStage | Taken, "progress stands for a lost acceptance"),
        new(RecoveryState.Pending, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Pending, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "no longer wanted before it was sent (a delivery of it may be out after a rejection: cancelled at the switch)"),
        new(RecoveryState.Pending, RecoveryTrigger.Expire, RecoveryState.Expired, Ending, "no connection of its switch took it before the deadline (or a delayed callback due in quiet hours that outlast it)"),
        new(RecoveryState.Pending, RecoveryTrigger.Hold, RecoveryState.Held, RecoveryEffects.Park, "an outage was declared in its cell or node: held until it carries traffic again"),
        new(RecoveryState.Pending, RecoveryTrigger.Release, null, RecoveryEffects.Enqueue, "released before (a retried batch, a second replica): queued again, idempotently, so a crash between the release and the queueing loses nothing"),
        new(RecoveryState.Pending, RecoveryTrigger.Retry, null, RetryingEffects, "the outcome that led to this callback, resent by the switch (unconfirmed): published and queued again, idempotently"),
        new(RecoveryState.Pending, RecoveryTrigger.Defer, RecoveryState.Pending, RecoveryEffects.Enqueue | RecoveryEffects.PublishDeferral, "a delayed callback due in the customer's quiet hours: queued again for their end, nothing sent, the new time published"),
        new(RecoveryState.Pending, RecoveryTrigger.AckTimeout, null, RecoveryEffects.Requeue, "claimed for sending and never sent (the replica failed in between): offered again"),
        new(RecoveryState.Pending, RecoveryTrigger.Shadow, RecoveryState.Completed, Finishing, "shadow: the moment the command would have been sent; it ends WOULD_HAVE_CALLED, published on the shadow topic, nothing sent"),

        // Held: waiting for the customer's coverage or the end of an outage; not in the due set.
        new(RecoveryState.Held, RecoveryTrigger.Schedule, null, RecoveryEffects.Park | RecoveryEffects.Index, "created held (radio loss, outage): only its deadline is queued, filed for cancels and releases"),
        new(RecoveryState.Held, RecoveryTrigger.Release, RecoveryState.Pending, RecoveryEffects.Enqueue, "what it waited for happened: queued, due at once (or at the end of its grace period)"),
        new(RecoveryState.Held, RecoveryTrigger.Hold, RecoveryState.Held, RecoveryEffects.Park, "held by an outage incident now (it may have waited for coverage)"),
        new(RecoveryState.Held, RecoveryTrigger.Dispatch, null, RecoveryEffects.Park, "held: nothing to send"),
        new(RecoveryState.Held, RecoveryTrigger.Shadow, null, RecoveryEffects.Park, "held: nothing would be sent"),
        new(RecoveryState.Held, RecoveryTrigger.AckTimeout, null, RecoveryEffects.Park, "held: nothing to send"),
        new(RecoveryState.Held, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Held, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "no longer wanted while held"),
        new(RecoveryState.Held, RecoveryTrigger.Expire, RecoveryState.Expired, Ending, "still held at the deadline: ends with the outcome of what it waited for (outage, unreachable customer)"),

        // Dispatched: an attempt is out at a switch connection.
        new(RecoveryState.Dispatched, RecoveryTrigger.Dispatch, RecoveryState.Dispatched, RecoveryEffects.SendCommand, "sent again (attempt n+1) after a timeout or a broken stream"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Accept, RecoveryState.Acknowledged, Accepted, "the switch accepted; an older attempt's acceptance wins too, and the newer one is cancelled at the switch"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Reject, RecoveryState.Pending, RecoveryEffects.Requeue | RecoveryEffects.ReleaseWindow, "offered again after the rejection backoff, possibly to another instance"),
        new(RecoveryState.Dispatched, RecoveryTrigger.AckTimeout, RecoveryState.Dispatched, RecoveryEffects.Requeue | RecoveryEffects.ReleaseWindow, "not acknowledged in time: goes round again (attempt n+1), possibly to another instance"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Progress, RecoveryState.Acknowledged, RecoveryEffects.PublishStage | Taken, "progress stands for a lost acceptance"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "no longer wanted: the attempt out is cancelled at the switch"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Expire, RecoveryState.Expired, Ending, "not accepted before the deadline (or due in quiet hours that outlast it): cancelled at the switch"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Defer, RecoveryState.Pending, RecoveryEffects.Enqueue | RecoveryEffects.ReleaseWindow | RecoveryEffects.PublishDeferral, "a delayed callback sent again in the customer's quiet hours: queued again for their end, the new time published"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Retry, RecoveryState.Pending, RetryingEffects, "no answer or busy before an acceptance arrived: this callback's outcome is published and the next one queued"),

        // Acknowledged: the switch is calling back; its reports move it on, a barred party cancels it, silence ends it.
        new(RecoveryState.Acknowledged, RecoveryTrigger.Dispatch, null, RecoveryEffects.LeaveQueue | RecoveryEffects.Supervise, "already accepted: nothing to send"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Accept, RecoveryState.Acknowledged, Accepted, "an acceptance after progress stood for it, or a repeated one: recorded; its queue, window and supervision settled again, newer deliveries withdrawn again"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Progress, RecoveryState.Acknowledged, RecoveryEffects.PublishStage | RecoveryEffects.Supervise, "the next stage"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "a party opted out or made an emergency call while the switch calls: the switch is told to stop (a redial is no cancel here: it may be our own reconnect)"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Expire, null, RecoveryEffects.LeaveQueue | RecoveryEffects.Supervise, "the switch has it: its outcome will come (or the outcome timeout ends it)"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.AckTimeout, null, RecoveryEffects.LeaveQueue | RecoveryEffects.Supervise, "the switch has it: its outcome will come (or the outcome timeout ends it)"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Retry, RecoveryState.Pending, RetryingEffects, "no answer or busy: this callback's outcome is published, and the next callback is queued after the gap"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.OutcomeTimeout, RecoveryState.Expired, Ending, "accepted, and no outcome reported within the outcome timeout: ends NO_REPORT, published and counted, and the switch is told to stop"),

        // Completed: final.
        new(RecoveryState.Completed, RecoveryTrigger.Dispatch, null, RecoveryEffects.LeaveQueue, "finished"),
        new(RecoveryState.Completed, RecoveryTrigger.Shadow, null, RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue, "finished (a shadow one again: its end published again, as a queue still named it)"),
        new(RecoveryState.Completed, RecoveryTrigger.Accept, null, RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "finished"),
        new(RecoveryState.Completed, RecoveryTrigger.Progress, RecoveryState.Completed, RecoveryEffects.PublishStage, "a late stage, recorded and published"),
        new(RecoveryState.Completed, RecoveryTrigger.Outcome, null, RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "a repeated outcome: published again (at least once), counted once, the first one kept"),
        new(RecoveryState.Completed, RecoveryTrigger.Expire, null, RecoveryEffects.LeaveQueue, "finished"),
        new(RecoveryState.Completed, RecoveryTrigger.AckTimeout, null, RecoveryEffects.LeaveQueue, "finished"),
        new(RecoveryState.Completed, RecoveryTrigger.OutcomeTimeout, null, RecoveryEffects.LeaveQueue, "finished"),

        // Expired and Cancelled: ended by us; only a switch that acted after all moves them on.
        .. Ended(RecoveryState.Expired, RecoveryTrigger.Expire),
        .. Ended(RecoveryState.Cancelled, RecoveryTrigger.Cancel),
    ];

    private static readonly FrozenDictionary<(RecoveryState, RecoveryTrigger), RecoveryRule> ByPair = Rules.ToFrozenDictionary(r => (r.From, r.Trigger));

    /// <summary>The rule for a state and trigger; a pair not in the table changes nothing and emits nothing.</summary>
    public static RecoveryRule Rule(RecoveryState from, RecoveryTrigger trigger) =>
        ByPair.TryGetValue((from, trigger), out var rule) ? rule : new RecoveryRule(from, trigger, null, RecoveryEffects.None, "not allowed in this state: nothing changes");

    /// <summary>How far ahead of its due time a callback may be sent (a claim takes what falls due within its horizon).</summary>
    public static readonly TimeSpan EarliestDispatch = TimeSpan.FromSeconds(1);

    public static bool IsFinal(RecoveryState state) => state is RecoveryState.Completed or RecoveryState.Expired or RecoveryState.Cancelled;

    /// <summary>Why a recovery is held (the <c>hold</c> field), and the outcome it ends with if still held at its deadline.</summary>
    public const string HoldForReachability = "reachability";

    public const string HoldForOutage = "outage";

    /// <summary>
    /// Decides <paramref name="move"/> for the recovery as stored (null: there is none): which rule applies (after the
    /// trigger's own conditions, such as a dispatch past the deadline becoming an expiry, or an outcome worth another
    /// callback becoming a retry) and what it writes. <paramref name="clockTolerance"/> is how far apart the clocks of two
    /// network elements may be when their times are compared (a re-attach, a redial against the drop).
    /// </summary>
    public static RecoveryDecision Decide(StoredRecovery? stored, RecoveryMove move, DateTimeOffset now, TimeSpan clockTolerance)
    {
        ArgumentNullException.ThrowIfNull(move);
        var trigger = move.Trigger;
        if (stored is null)
        {
            return RecoveryDecision.Nothing(RecoveryVerdict.Unknown, null, trigger);
        }

        var r = stored.Record;
        var state = r.State;
        if (move.ActingSwitch.Length > 0 && move.ActingSwitch != r.SwitchId)
        {
            // Another switch's recovery: a dispatch from the wrong queue does nothing, a report is refused.
            return RecoveryDecision.Nothing(trigger is RecoveryTrigger.Dispatch or RecoveryTrigger.Shadow ? RecoveryVerdict.Kept : RecoveryVerdict.Forbidden, state, trigger);
        }

        // Conditions that belong to a trigger, not to a state; each may rewrite the trigger or end the decision.
        switch (move)
        {
            case DispatchMove or ShadowMove when r.Deadline <= now:
                trigger = RecoveryTrigger.Expire;
                break;
            case ShadowMove when state == RecoveryState.Pending && r.DueAt > now + EarliestDispatch:
                return Kept(state, trigger);
            case DispatchMove { Connection.Length: > 0 } when state == RecoveryState.Pending && r.DueAt > now + EarliestDispatch:
                // Not due yet (a retry's gap, a deferral, a rejection's backoff written since it was claimed): it waits.
                return Kept(state, trigger);
            case ExpireMove { QuietHours: null } when r.Deadline > now:
                return Kept(state, trigger);
            case ProgressMove or OutcomeMove:
                var reported = move is ProgressMove progress ? progress.CallbackAttempt : ((OutcomeMove)move).CallbackAttempt;
                if (reported == 0)
                {
                    // A switch that does not say means the callback out now; while the next one waits to be sent, the one before it.
                    reported = state == RecoveryState.Pending && r.CallbackAttempt > 1 ? r.CallbackAttempt - 1 : r.CallbackAttempt;
                }

                if (reported < r.CallbackAttempt)
                {
                    if (move is OutcomeMove resent && reported == r.CallbackAttempt - 1 && state == RecoveryState.Pending && r.LastOutcome == resent.Outcome.ToString())
                    {
                        // The outcome that led to this callback, resent (it was not confirmed: the service may have failed
                        // before publishing it or queueing the next callback): its effects again, which are idempotent.
                        return RecoveryDecision.Nothing(RecoveryVerdict.Unchanged, state, RecoveryTrigger.Retry);
                    }

                    // About an earlier callback of this recovery, again (a switch resends until confirmed): nothing changes.
                    return RecoveryDecision.Nothing(RecoveryVerdict.Stale, state, trigger);
                }

                if (reported > r.CallbackAttempt)
                {
                    // A callback not sent yet: nothing a switch can report on.
                    return RecoveryDecision.Nothing(RecoveryVerdict.Stale, state, trigger);
                }

                if (move is OutcomeMove { Retry: { } retry } && state is RecoveryState.Dispatched or RecoveryState.Acknowledged
                    && r.CallbackAttempt < retry.MaxCallbackAttempts && now + retry.Gap < r.Deadline)
                {
                    trigger = RecoveryTrigger.Retry;
                }

                break;
            case AcceptMove { Attempt: var attempt } when attempt < r.CallbackSince || attempt > r.Attempts:
                // A delivery of an earlier callback answered late, or no delivery we made: it says nothing about this callback.
                return RecoveryDecision.Nothing(RecoveryVerdict.Stale, state, trigger);
            case AcceptMove { Attempt: var attempt } when state == RecoveryState.Acknowledged && r.AcceptedAttempt != 0 && r.AcceptedAttempt != attempt:
                // Another delivery of this callback was accepted first: this one is withdrawn at its connection.
                return RecoveryDecision.Nothing(RecoveryVerdict.Superseded, state, trigger);
            case RejectMove { Attempt: var attempt } when attempt < r.CallbackSince || (state == RecoveryState.Dispatched && attempt != r.Attempts):
                // A rejection of an older delivery: the newer one out is what counts.
                return RecoveryDecision.Nothing(RecoveryVerdict.Stale, state, trigger);
            case ReachableRelease reachable when r.Hold != HoldForReachability || r.CallBack != reachable.Number || reachable.At < r.DropTime - clockTolerance:
                return Kept(state, trigger);
            case IncidentRelease incident when r.Incident != incident.IncidentId:
                return Kept(state, trigger);
            case ReleaseMove when state == RecoveryState.Pending && r.ReleasedAt is null:
                // Never held: nothing to release.
                return Kept(state, trigger);
            case HoldMove hold when state == RecoveryState.Held && r.Hold == HoldForOutage && r.Incident.StartsWith("cell-", StringComparison.Ordinal) && hold.IncidentId.StartsWith("node-", StringComparison.Ordinal):
                // Held by its cell's outage already: only the cell carrying traffic again releases it, not the node.
                return Kept(state, trigger);
            case CancelMove { Reason: Redialled redial } when !redial.Between(r.CallBack, r.OtherParty) || state == RecoveryState.Acknowledged || !redial.IsAfterDrop(r.CallId, r.DropTime, clockTolerance):
                // Not between this recovery's parties (one of them reached someone else); not a redial after the drop
                // (the dropped call itself, or earlier); or the switch is calling, and the connection may be our own
                // reconnect leg.
                return Kept(state, trigger);
            case CancelMove { Reason: PartyBarred party } when party.Number != r.CallBack && party.Number != r.OtherParty:
                return Kept(state, trigger);
            case CancelMove { Reason: CustomerAnswered answer } when (answer.Number != r.CallBack && answer.Number != r.OtherParty) || r.DropTime > answer.At + clockTolerance:
                // Not theirs, or a drop after they answered: a new question, not the one they answered.
                return Kept(state, trigger);
            case CancelMove { Reason: FoundAtDispatch } when state == RecoveryState.Acknowledged:
                return Kept(state, trigger);
            case OutcomeTimeoutMove timeout when state == RecoveryState.Acknowledged && (r.LastReportAt ?? r.AcknowledgedAt ?? now) + (r.StageTimes.ContainsKey(Bridged(r)) ? timeout.BridgedTimeout : timeout.Timeout) > now:
                // Not silent that long yet (a report came meanwhile).
                return Kept(state, trigger);
        }

        var rule = Rule(state, trigger);
        if (rule.To is not { } to)
        {
            return RecoveryDecision.Nothing(RecoveryVerdict.Unchanged, state, trigger);
        }

        var ms = RecoveryRecord.Ms(now);
        var writes = new List<KeyValuePair<string, string>> { new(RecoveryFields.State, to.ToString()) };
        void Set(string field, string value) => writes.Add(new(field, value));
        void SetNumber(string field, long value) => writes.Add(new(field, value.ToString(CultureInfo.InvariantCulture)));
        switch (move)
        {
            case DispatchMove dispatch when trigger == RecoveryTrigger.Dispatch:
                SetNumber(RecoveryFields.Attempts, r.Attempts + 1);
                Set(RecoveryFields.DispatchedAt, ms);
                Set(RecoveryFields.Connection, dispatch.Connection);
                if (r.FirstDispatchedAt is null)
                {
                    Set(RecoveryFields.FirstDispatchedAt, ms);
                }

                break;
            case AcceptMove accept:
                Set(RecoveryFields.AcknowledgedAt, ms);
                Set(RecoveryFields.LastReportAt, ms);
                SetNumber(RecoveryFields.AcceptedAttempt, accept.Attempt);
                break;
            case RejectMove reject:
                Set(RecoveryFields.LastRejection, reject.Detail);
                break;
            case AckTimeoutMove:
                SetNumber(RecoveryFields.AckTimeouts, r.AckTimeouts + 1);
                break;
            case ProgressMove progress:
                var stageAt = RecoveryFields.StageAt(progress.Stage.ToString(), r.CallbackAttempt);
                if (stored.Fields.ContainsKey(stageAt))
                {
                    // This stage was recorded before: a resent report changes nothing.
                    return RecoveryDecision.Nothing(RecoveryVerdict.Unchanged, state, trigger);
                }

                Set(stageAt, RecoveryRecord.Ms(progress.At));
                Set(RecoveryFields.Stage, progress.Stage.ToString());
                Set(RecoveryFields.LastReportAt, ms);
                if (to == RecoveryState.Acknowledged && state != to)
                {
                    Set(RecoveryFields.AcknowledgedAt, RecoveryRecord.Ms(progress.At));
                }

                break;
            case OutcomeMove outcome when trigger == RecoveryTrigger.Retry:
                Set(RecoveryFields.CallbackAttempt, (r.CallbackAttempt + 1).ToString(CultureInfo.InvariantCulture));
                SetNumber(RecoveryFields.CallbackSince, r.Attempts + 1);
                Set(RecoveryFields.DueAt, RecoveryRecord.Ms(now + outcome.Retry!.Gap));
                Set(RecoveryFields.Delayed, "1");
                Set(RecoveryFields.Stage, string.Empty);
                SetNumber(RecoveryFields.AcceptedAttempt, 0);
                Set(RecoveryFields.LastOutcome, outcome.Outcome.ToString());
                Set(RecoveryFields.LastOutcomeAt, RecoveryRecord.Ms(outcome.At));
                Set(RecoveryFields.EarlierCallback(r.CallbackAttempt, "outcome"), outcome.Outcome.ToString());
                Set(RecoveryFields.EarlierCallback(r.CallbackAttempt, "at"), RecoveryRecord.Ms(outcome.At));
                Set(RecoveryFields.EarlierCallback(r.CallbackAttempt, "detail"), outcome.FailureCause);
                break;
            case OutcomeMove outcome:
                Set(RecoveryFields.Outcome, outcome.Outcome.ToString());
                Set(RecoveryFields.CompletedAt, RecoveryRecord.Ms(outcome.At));
                SetNumber(RecoveryFields.TalkTimeMs, (long)outcome.TalkTime.TotalMilliseconds);
                Set(RecoveryFields.Detail, outcome.FailureCause);
                SetNumber(RecoveryFields.SurveyScore, outcome.SurveyScore);
                Set(RecoveryFields.ReconnectCallId, outcome.ReconnectCallId);
                break;
            case HoldMove hold:
                Set(RecoveryFields.Hold, HoldForOutage);
                Set(RecoveryFields.Incident, hold.IncidentId);
                Set(RecoveryFields.HeldAt, ms);
                break;
            case ReleaseMove release:
                // Reachable again: at once ("as soon as"), instead of the grace period; an outage over: not before its grace period ends.
                Set(RecoveryFields.DueAt, release is ReachableRelease ? ms : RecoveryRecord.Ms(r.DueAt > now ? r.DueAt : now));
                Set(RecoveryFields.Delayed, "1");
                Set(RecoveryFields.ReleasedAt, ms);
                break;
            case DeferMove defer:
                Set(RecoveryFields.DueAt, RecoveryRecord.Ms(defer.DueAt));
                Set(RecoveryFields.DeferredAt, ms);
                Set(RecoveryFields.Deferral, defer.Detail);
                break;
            case CancelMove cancel:
                Set(RecoveryFields.Outcome, nameof(Outcome.Cancelled));
                Set(RecoveryFields.CompletedAt, ms);
                Set(RecoveryFields.Detail, cancel.Reason.Detail);
                break;
            case OutcomeTimeoutMove timeout:
                Set(RecoveryFields.Outcome, nameof(Outcome.NoReport));
                Set(RecoveryFields.CompletedAt, ms);
                Set(RecoveryFields.Detail, $"the switch accepted callback {r.CallbackAttempt} and reported no outcome for {Minutes(r.StageTimes.ContainsKey(Bridged(r)) ? timeout.BridgedTimeout : timeout.Timeout)}");
                break;
            case ShadowMove shadow when trigger == RecoveryTrigger.Shadow:
                Set(RecoveryFields.Outcome, nameof(Outcome.WouldHaveCalled));
                Set(RecoveryFields.CompletedAt, RecoveryRecord.Ms(shadow.At));
                Set(RecoveryFields.Detail, $"shadow: would have called at {shadow.At:HH:mm:ss.fff} UTC; nothing was sent");
                break;
            case ExpireMove or DispatchMove or ShadowMove:
                var (ended, detail) = move switch
                {
                    ExpireMove { QuietHours: { } quiet } => (nameof(Outcome.QuietHours), quiet),
                    _ when state == RecoveryState.Held && r.Hold == HoldForOutage => (nameof(Outcome.OutageNotRecovered), $"the outage incident {r.Incident} lasted past the deadline"),
                    _ when state == RecoveryState.Held => (nameof(Outcome.CustomerUnreachable), "the customer was not reachable again before the deadline"),
                    _ when r.Attempts == 0 => (nameof(Outcome.Expired), $"not delivered: no live connection of switch {r.SwitchId} took it before the deadline"),
                    _ => (nameof(Outcome.Expired), $"not accepted before the deadline after {r.Attempts.ToString(CultureInfo.InvariantCulture)} attempt(s)"),
                };
                Set(RecoveryFields.Outcome, ended);
                Set(RecoveryFields.CompletedAt, ms);
                Set(RecoveryFields.Detail, detail);
                break;
        }

        return new RecoveryDecision(RecoveryVerdict.Applied, state, trigger, writes);
    }

    /// <summary>The stage field that says the current callback's parties were bridged.</summary>
    private static string Bridged(RecoveryRecord r) => nameof(Stage.Bridged) + (r.CallbackAttempt > 1 ? "@" + r.CallbackAttempt.ToString(CultureInfo.InvariantCulture) : string.Empty);

    private static string Minutes(TimeSpan span) => span.TotalMinutes >= 1 ? $"{span.TotalMinutes:0.#} min" : $"{span.TotalSeconds:0} s";

    private static RecoveryDecision Kept(RecoveryState state, RecoveryTrigger trigger) => RecoveryDecision.Nothing(RecoveryVerdict.Kept, state, trigger);

    /// <summary>The names the Lua scripts use, as Lua: the recovery's field names they read or write.</summary>
    public static string LuaPrelude() =>
        $"local FIELD = {{Version='{RecoveryFields.Version}'}}\n";

    /// <summary>
    /// An ended recovery that a queue still names (its end was written and the replica failed before its effects, or a
    /// race left an entry) is settled now, and what its end emits is done again: its outcome may not have been
    /// published, nor the switch told, whichever entry comes first (the dispatch, the acknowledgement, the deadline or
    /// the outcome supervision). Published at least once, counted once.
    /// </summary>
    private static IEnumerable<RecoveryRule> Ended(RecoveryState state, RecoveryTrigger endedBy) =>
    [
        new(state, RecoveryTrigger.Dispatch, null, EndedAgain, "ended: nothing to send; its end is published again, as a queue still named it"),
        new(state, RecoveryTrigger.Shadow, null, EndedAgain, "ended: nothing would be sent; its end is published again, as a queue still named it"),
        new(state, RecoveryTrigger.Accept, null, RecoveryEffects.CancelAtSwitch | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "accepted after it ended: the switch is told not to start it"),
        new(state, RecoveryTrigger.Reject, null, RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "ended"),
        new(state, RecoveryTrigger.AckTimeout, null, EndedAgain, "ended: its end is published again and the switch told again, as a queue still named it"),
        new(state, RecoveryTrigger.OutcomeTimeout, null, EndedAgain, "ended: its end is published again and the switch told again, as a queue still named it"),
        new(state, RecoveryTrigger.Progress, state, RecoveryEffects.PublishStage, "the switch acted after all: recorded and published for billing"),
        new(state, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch acted after all: a second final outcome is published so billing knows"),
        new(state, endedBy, null, EndedAgain, "ended again: its outcome may not have been published, so it is published again (not counted)"),
        .. endedBy == RecoveryTrigger.Expire ? Array.Empty<RecoveryRule>() : [new(state, RecoveryTrigger.Expire, null, EndedAgain, "its deadline, after it ended: its end is published again, as a queue still named it")],
    ];

    private const RecoveryEffects EndedAgain = RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.CancelAtSwitch;
}

/// <summary>What the door answers when asked to make a move.</summary>
public enum RecoveryVerdict
{
    /// <summary>The move in the table was made (the state changed, or data such as a stage was recorded).</summary>
    Applied,
    /// <summary>The table allows no move here: nothing was written; the rule's effects (if any) still apply.</summary>
    Unchanged,
    /// <summary>No such recovery (expired from Redis, or never created).</summary>
    Unknown,
    /// <summary>The recovery belongs to another switch.</summary>
    Forbidden,
    /// <summary>About an older attempt or callback than the one out (a report that no longer matters).</summary>
    Stale,
    /// <summary>An acceptance of another attempt than the one already accepted: that attempt is cancelled at its connection.</summary>
    Superseded,
    /// <summary>A condition of the trigger did not hold (not yet past the deadline, a redial older than the drop, another switch's queue): nothing changes.</summary>
    Kept,
}
