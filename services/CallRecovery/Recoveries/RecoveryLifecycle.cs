using System.Collections.Frozen;
using System.Text;

namespace CallRecovery.Recoveries;

/// <summary>Where a recovery stands. Decisions create it <see cref="Pending"/>; delivery and the switch move it on.</summary>
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
    /// <summary>Not accepted before its deadline. Final for us; only a switch's own outcome report moves it on.</summary>
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
    /// <summary>The attempt was not acknowledged in time, or its stream broke: it goes round again.</summary>
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
}

/// <summary>What a transition makes the service do besides writing the recovery's new state.</summary>
[Flags]
public enum RecoveryEffects
{
    None = 0,
    /// <summary>Send the command to the switch connection that took it.</summary>
    SendCommand = 1,
    /// <summary>Tell the switch not to start (or not to go on with) this callback: a <c>CancelCommand</c> to every connection holding it.</summary>
    CancelAtSwitch = 2,
    /// <summary>Publish the progress stage on the outcome topic.</summary>
    PublishStage = 4,
    /// <summary>Publish the final outcome on the outcome topic (again, when it may not have been published).</summary>
    PublishOutcome = 8,
    /// <summary>Count the final outcome in the metrics (once per recovery and outcome).</summary>
    CountOutcome = 16,
    /// <summary>Put the command back in its switch's due set (after the rejection backoff, or at once).</summary>
    Requeue = 32,
    /// <summary>Take the command out of its switch's queue for good (due, in-flight and deadline sets).</summary>
    LeaveQueue = 64,
    /// <summary>Free the place the command held in a connection's window of unacknowledged commands.</summary>
    ReleaseWindow = 128,
    /// <summary>Put the command (back) in its switch's queue at the recovery's due time, with its deadline.</summary>
    Enqueue = 256,
    /// <summary>Take the command out of its switch's due and in-flight sets; its deadline stays (a held recovery still expires).</summary>
    Park = 512,
}

/// <summary>One allowed move: the state it leads to (the same state when only data is recorded), what it emits, and why.</summary>
public sealed record RecoveryRule(RecoveryState From, RecoveryTrigger Trigger, RecoveryState? To, RecoveryEffects Effects, string Why);

/// <summary>
/// The life of a recovery, in one table: for each state and each trigger, the state it leads to and what the
/// service does. A pair not in the table changes nothing and emits nothing. The Redis scripts enforce the same
/// table (it is injected into them when they load), so the store can never make a move this table does not allow.
/// <code>
///               Dispatch                 Accept / Progress                  Outcome
///   Pending ──────────────► Dispatched ───────────────────► Acknowledged ───────────► Completed
///      ▲  ◄──── Reject ──────┘  │ ▲ AckTimeout, Dispatch (attempt n+1)  │            ▲
///      │  ◄── Retry, Defer ─────┤ └─┘                                   │            │ Outcome (the switch
///      │  ◄──────────────── Retry (no answer, busy: callback n+1) ──────┘            │  acted after all)
///      └─ Cancel / Expire ──────┴──────────► Cancelled | Expired ───────────────────┘
///   Held (radio loss, outage) ── Release ──► Pending;  Pending ── Hold ──► Held;  Held ── Cancel / Expire ──► ended
/// </code>
/// </summary>
public static class RecoveryLifecycle
{
    private const RecoveryEffects Ending = RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.CancelAtSwitch | RecoveryEffects.ReleaseWindow;
    private const RecoveryEffects Finishing = RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow;
    private const RecoveryEffects RetryingEffects = RecoveryEffects.PublishOutcome | RecoveryEffects.Enqueue | RecoveryEffects.ReleaseWindow;

    public static IReadOnlyList<RecoveryRule> Rules { get; } =
    [
        // Pending: decided, or offered again after a rejection.
        new(RecoveryState.Pending, RecoveryTrigger.Dispatch, RecoveryState.Dispatched, RecoveryEffects.SendCommand, "sent to a connection of its switch"),
        new(RecoveryState.Pending, RecoveryTrigger.Accept, null, RecoveryEffects.None, "a late or repeated acceptance of an attempt that was rejected: the recovery waits to be offered again"),
        new(RecoveryState.Pending, RecoveryTrigger.Progress, RecoveryState.Acknowledged, RecoveryEffects.PublishStage | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "progress stands for a lost acceptance"),
        new(RecoveryState.Pending, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Pending, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "no longer wanted before it was sent"),
        new(RecoveryState.Pending, RecoveryTrigger.Expire, RecoveryState.Expired, Ending, "no connection of its switch took it before the deadline"),
        new(RecoveryState.Pending, RecoveryTrigger.Hold, RecoveryState.Held, RecoveryEffects.Park, "an outage was declared in its cell or node: held until it carries traffic again"),
        new(RecoveryState.Pending, RecoveryTrigger.Release, null, RecoveryEffects.Enqueue, "released before (a retried batch, a second replica): queued again, idempotently, so a crash between the release and the queueing loses nothing"),
        new(RecoveryState.Pending, RecoveryTrigger.Retry, null, RetryingEffects, "the outcome that led to this callback, resent by the switch (unconfirmed): published and queued again, idempotently"),

        // Held: waiting for the customer's coverage or the end of an outage; not in the due set.
        new(RecoveryState.Held, RecoveryTrigger.Release, RecoveryState.Pending, RecoveryEffects.Enqueue, "what it waited for happened: queued, due at once (or at the end of its grace period)"),
        new(RecoveryState.Held, RecoveryTrigger.Hold, RecoveryState.Held, RecoveryEffects.Park, "held by an outage incident now (it may have waited for coverage)"),
        new(RecoveryState.Held, RecoveryTrigger.Dispatch, null, RecoveryEffects.Park, "held: nothing to send"),
        new(RecoveryState.Held, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Held, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "no longer wanted while held"),
        new(RecoveryState.Held, RecoveryTrigger.Expire, RecoveryState.Expired, Ending, "still held at the deadline: ends with the outcome of what it waited for (outage, unreachable customer)"),

        // Dispatched: an attempt is out at a switch connection.
        new(RecoveryState.Dispatched, RecoveryTrigger.Dispatch, RecoveryState.Dispatched, RecoveryEffects.SendCommand, "sent again (attempt n+1) after a timeout or a broken stream"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Accept, RecoveryState.Acknowledged, RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "the switch accepted; an older attempt's acceptance wins too, and the newer one is cancelled at its connection"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Reject, RecoveryState.Pending, RecoveryEffects.Requeue | RecoveryEffects.ReleaseWindow, "offered again after the rejection backoff, possibly to another instance"),
        new(RecoveryState.Dispatched, RecoveryTrigger.AckTimeout, RecoveryState.Dispatched, RecoveryEffects.Requeue | RecoveryEffects.ReleaseWindow, "not acknowledged in time: goes round again"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Progress, RecoveryState.Acknowledged, RecoveryEffects.PublishStage | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "progress stands for a lost acceptance"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch finished it"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Cancel, RecoveryState.Cancelled, Ending, "no longer wanted: the attempt out is cancelled at the switch"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Expire, RecoveryState.Expired, Ending, "not accepted before the deadline (or due in quiet hours that outlast it): cancelled at the switch"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Defer, RecoveryState.Pending, RecoveryEffects.Enqueue | RecoveryEffects.ReleaseWindow, "a delayed callback due in the customer's quiet hours: queued again for their end, nothing sent"),
        new(RecoveryState.Dispatched, RecoveryTrigger.Retry, RecoveryState.Pending, RetryingEffects, "no answer or busy before an acceptance arrived: this callback's outcome is published and the next one queued"),

        // Acknowledged: the switch is calling back; only the switch moves it on.
        new(RecoveryState.Acknowledged, RecoveryTrigger.Dispatch, null, RecoveryEffects.LeaveQueue, "already accepted: nothing to send"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Accept, null, RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "a repeated acceptance"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Progress, RecoveryState.Acknowledged, RecoveryEffects.PublishStage, "the next stage"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing & ~RecoveryEffects.LeaveQueue, "the switch finished it; it left the queue when it was accepted (after a crash in between, the sweep takes it out)"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Expire, null, RecoveryEffects.LeaveQueue, "the switch has it: its outcome will come"),
        new(RecoveryState.Acknowledged, RecoveryTrigger.Retry, RecoveryState.Pending, RetryingEffects, "no answer or busy: this callback's outcome is published, and the next callback is queued after the gap"),

        // Completed: final.
        new(RecoveryState.Completed, RecoveryTrigger.Dispatch, null, RecoveryEffects.LeaveQueue, "finished"),
        new(RecoveryState.Completed, RecoveryTrigger.Accept, null, RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "finished"),
        new(RecoveryState.Completed, RecoveryTrigger.Progress, RecoveryState.Completed, RecoveryEffects.PublishStage, "a late stage, recorded and published"),
        new(RecoveryState.Completed, RecoveryTrigger.Outcome, null, RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "a repeated outcome: published again (at least once), counted once, the first one kept"),
        new(RecoveryState.Completed, RecoveryTrigger.Expire, null, RecoveryEffects.LeaveQueue, "finished"),

        // Expired and Cancelled: ended by us; only a switch that acted after all moves them on.
        .. Ended(RecoveryState.Expired, RecoveryTrigger.Expire),
        .. Ended(RecoveryState.Cancelled, RecoveryTrigger.Cancel),
    ];

    private static readonly FrozenDictionary<(RecoveryState, RecoveryTrigger), RecoveryRule> ByPair = Rules.ToFrozenDictionary(r => (r.From, r.Trigger));

    /// <summary>The rule for a state and trigger; a pair not in the table changes nothing and emits nothing.</summary>
    public static RecoveryRule Rule(RecoveryState from, RecoveryTrigger trigger) =>
        ByPair.TryGetValue((from, trigger), out var rule) ? rule : new RecoveryRule(from, trigger, null, RecoveryEffects.None, "not allowed in this state: nothing changes");

    public static bool IsFinal(RecoveryState state) => state is RecoveryState.Completed or RecoveryState.Expired or RecoveryState.Cancelled;

    /// <summary>Why a recovery is held (the <c>hold</c> field), and the outcome it ends with if still held at its deadline.</summary>
    public const string HoldForReachability = "reachability";

    public const string HoldForOutage = "outage";

    /// <summary>
    /// The table as Lua, for the scripts: the state names, the verdict names, and the moves that change or record
    /// something ("From|Trigger" to the state it leads to).
    /// </summary>
    public static string LuaPrelude()
    {
        var lua = new StringBuilder();
        lua.Append("local STATE = {");
        foreach (var state in Enum.GetValues<RecoveryState>())
        {
            lua.Append(state).Append("='").Append(state).Append("',");
        }

        lua.Append("}\nlocal VERDICT = {");
        foreach (var verdict in Enum.GetValues<RecoveryVerdict>())
        {
            lua.Append(verdict).Append("='").Append(verdict).Append("',");
        }

        lua.Append("}\nlocal MOVES = {");
        foreach (var rule in Rules.Where(r => r.To is not null))
        {
            lua.Append("['").Append(rule.From).Append('|').Append(rule.Trigger).Append("']='").Append(rule.To).Append("',");
        }

        lua.Append("}\nlocal FULL = {");
        foreach (var rule in Rules.Where(r => (r.Effects & NeedWholeRecord) != 0))
        {
            lua.Append("['").Append(rule.From).Append('|').Append(rule.Trigger).Append("']=true,");
        }

        lua.Append("}\nlocal SHORT = {");
        foreach (var field in RecoveryRecord.ShortFields)
        {
            lua.Append('\'').Append(field).Append("',");
        }

        lua.Append("}\n");
        return lua.ToString();
    }

    /// <summary>
    /// Effects that need the whole recovery record (a command to build, an event to publish, an outcome to count).
    /// The transition script returns the whole record only for moves with one of these; the others get the
    /// fields the service acts on (<see cref="RecoveryRecord.ShortFields"/>).
    /// </summary>
    public const RecoveryEffects NeedWholeRecord = RecoveryEffects.SendCommand | RecoveryEffects.PublishStage | RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome;

    private static IEnumerable<RecoveryRule> Ended(RecoveryState state, RecoveryTrigger endedBy) =>
    [
        new(state, RecoveryTrigger.Dispatch, null, RecoveryEffects.LeaveQueue, "ended: nothing to send"),
        new(state, RecoveryTrigger.Accept, null, RecoveryEffects.CancelAtSwitch | RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "accepted after it ended: the switch is told not to start it"),
        new(state, RecoveryTrigger.Reject, null, RecoveryEffects.LeaveQueue | RecoveryEffects.ReleaseWindow, "ended"),
        new(state, RecoveryTrigger.Progress, state, RecoveryEffects.PublishStage, "the switch acted after all: recorded and published for billing"),
        new(state, RecoveryTrigger.Outcome, RecoveryState.Completed, Finishing, "the switch acted after all: a second final outcome is published so billing knows"),
        new(state, endedBy, null, RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.CancelAtSwitch, "ended again: its outcome may not have been published, so it is published again (not counted)"),
    ];
}

/// <summary>What the store answers when asked to apply a trigger.</summary>
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
    /// <summary>About an older attempt than the one out (a rejection that no longer matters).</summary>
    Stale,
    /// <summary>An acceptance of another attempt than the one already accepted: that attempt is cancelled at its connection.</summary>
    Superseded,
    /// <summary>A condition of the trigger did not hold (not yet past the deadline, a redial older than the drop, another switch's queue): nothing changes.</summary>
    Kept,
}
