using Microsoft.Extensions.Options;
using StackExchange.Redis;
using CallRecovery.Redis;

namespace CallRecovery.Recoveries;

/// <summary>A recovery to put in its switch's queue.</summary>
/// <summary>A recovery to put in its switch's queue; a held one (<paramref name="Hold"/> not empty) queues only its deadline until released.</summary>
public sealed record ScheduledRecovery(string CallId, string SwitchId, DateTimeOffset DueAt, DateTimeOffset Deadline, string CallBack, string OtherParty, string Hold = "", string Incident = "", DateTimeOffset DropTime = default);

/// <summary>
/// What the store did with a trigger: its verdict, the state before, the trigger it applied (a dispatch past the
/// deadline becomes an expiry), and the recovery as it now stands: the whole record when the effects need it
/// (<see cref="RecoveryLifecycle.NeedWholeRecord"/>), otherwise <see cref="RecoveryRecord.ShortFields"/>.
/// <see cref="Effects"/> is what the service must do about it, from the lifecycle table.
/// </summary>
public sealed record RecoveryTransition(RecoveryVerdict Verdict, RecoveryState? From, RecoveryTrigger Trigger, RecoveryRecord? Recovery)
{
    public RecoveryEffects Effects => Verdict switch
    {
        RecoveryVerdict.Applied or RecoveryVerdict.Unchanged when From is { } from => RecoveryLifecycle.Rule(from, Trigger).Effects,
        RecoveryVerdict.Superseded => RecoveryEffects.CancelAtSwitch | RecoveryEffects.ReleaseWindow,
        _ => RecoveryEffects.None,
    };

    /// <summary>The state it now has (the state before when nothing moved).</summary>
    public RecoveryState? To => Recovery?.State ?? From;
}

/// <summary>
/// The recoveries in Redis. Per recovery (slot {c:callId}): the recovery hash, moved only by the transition
/// script, which enforces the lifecycle table. Per switch (slot {w:id}): a due set, an in-flight set and
/// deadlines. Every script works on one slot; every step is idempotent, so any replica may run any of them, and a
/// crash between two steps is mended by the acknowledgement timeout or the deadline sweep.
/// </summary>
public sealed class RecoveryStore(IConnectionMultiplexer redis, IOptions<RedisOptions> options)
{
    private readonly RedisKeys _keys = RedisKeys.For(options.Value);
    private readonly long _ttlMs = (long)options.Value.Retention.TotalMilliseconds;

    // Moves and queue settlements from many callers at once go as one run each (acknowledgements, reports, dispatch).
    private readonly ScriptBatcher _transitions = new(() => redis.GetDatabase(), RecoveryScripts.Transition);
    private readonly ScriptBatcher _settlements = new(() => redis.GetDatabase(), RecoveryScripts.SettleEntries, mergeSameKeys: true);
    private readonly ScriptBatcher _partyFacts = new(() => redis.GetDatabase(), RecoveryScripts.PartyFacts);
    private readonly ScriptBatcher _connections = new(() => redis.GetDatabase(), RecoveryScripts.ConnectionsSince);

    // Releases and retries queue their commands one by one; concurrent ones (an incident's held recoveries) go as one run.
    private readonly ScriptBatcher _reschedules = new(() => redis.GetDatabase(), RecoveryScripts.Reschedule);
    private readonly ScriptBatcher _enqueues = new(() => redis.GetDatabase(), RecoveryScripts.EnqueueRecovery);

    private IDatabase Db => redis.GetDatabase();

    public async Task ScheduleAsync(IReadOnlyList<ScheduledRecovery> recoveries)
    {
        if (recoveries.Count == 0)
        {
            return;
        }

        var db = Db;
        // One call per switch (its keys share a slot) for all of its recoveries, in chunks Lua's unpack can take.
        var queued = db.EvaluateEachAsync(RecoveryScripts.EnqueueRecovery, [.. recoveries.GroupBy(r => r.SwitchId, StringComparer.Ordinal)
            .SelectMany(bySwitch => bySwitch.Chunk(1_000).Select(chunk => new ScriptCall(SwitchKeys(bySwitch.Key),
                [_ttlMs, .. chunk.SelectMany(r => new RedisValue[] { r.CallId, r.Hold.Length > 0 ? "held" : r.DueAt.ToUnixTimeMilliseconds(), r.Deadline.ToUnixTimeMilliseconds() })])))]);
        // Filed under the pair until a minute past the deadline, so a redial between them finds it to cancel.
        var paired = db.EvaluateEachAsync(RecoveryScripts.PairRecovery, [.. recoveries.Select(r =>
            new ScriptCall([_keys.PartyPair(r.CallBack, r.OtherParty)], [r.CallId, (r.Deadline + TimeSpan.FromMinutes(1)).ToUnixTimeMilliseconds()]))]);
        var switches = db.SetAddAsync(_keys.Switches(), [.. recoveries.Select(r => (RedisValue)r.SwitchId).Distinct()]);
        var kept = db.KeyExpireAsync(_keys.Switches(), TimeSpan.FromMilliseconds(_ttlMs));
        await Task.WhenAll(queued, paired, switches, kept).ConfigureAwait(false);
    }

    /// <summary>Tells every replica that <paramref name="switchId"/> has a command due at <paramref name="dueAt"/> (the one serving it wakes then).</summary>
    public Task AnnounceDueAsync(string switchId, DateTimeOffset dueAt) =>
        redis.GetSubscriber().PublishAsync(_keys.DueChannel(), $"{switchId}|{dueAt.ToUnixTimeMilliseconds()}", CommandFlags.FireAndForget);

    /// <summary>Calls <paramref name="onDue"/> with (switch id, due time) for every announcement, from any replica.</summary>
    public Task SubscribeDueAsync(Action<string, DateTimeOffset> onDue) =>
        redis.GetSubscriber().SubscribeAsync(_keys.DueChannel(), (_, message) =>
        {
            var text = (string?)message ?? string.Empty;
            var bar = text.LastIndexOf('|');
            if (bar > 0 && long.TryParse(text.AsSpan(bar + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms))
            {
                onDue(text[..bar], DateTimeOffset.FromUnixTimeMilliseconds(ms));
            }
        });

    /// <summary>Claims up to <paramref name="count"/> due commands of a switch; also says when the next one left in its queue is due (null: none left).</summary>
    /// <remarks>With an admission rate (commands per second, 0: none), no more are claimed than the switch's shared token bucket allows; the next due time then says when the next token is.</remarks>
    public async Task<(IReadOnlyList<string> Claimed, DateTimeOffset? NextDue)> ClaimDueAsync(string switchId, int count, DateTimeOffset now, DateTimeOffset acknowledgementDeadline, int admissionRate = 0)
    {
        var result = (RedisResult[])(await Db.EvaluateAsync(RecoveryScripts.ClaimDue, [_keys.SwitchDue(switchId), _keys.SwitchInFlight(switchId), _keys.SwitchAdmission(switchId)],
            [now.ToUnixTimeMilliseconds(), count, acknowledgementDeadline.ToUnixTimeMilliseconds(), _ttlMs, admissionRate]).ConfigureAwait(false))!;
        IReadOnlyList<string> claimed = [.. ((RedisResult[])result[0]!).Select(r => (string)r!)];
        return (claimed, result[1].IsNull ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)(double)result[1]));
    }

    /// <summary>Applies a trigger to a recovery, as the lifecycle table allows. <paramref name="switchId"/> is the switch acting ("" for the service itself).</summary>
    public async Task<RecoveryTransition> ApplyAsync(string callId, RecoveryTrigger trigger, DateTimeOffset now, string switchId, params RedisValue[] arguments)
    {
        var reply = (RedisResult[])(await _transitions.EvaluateAsync([_keys.Recovery(callId)],
            [trigger.ToString(), now.ToUnixTimeMilliseconds(), switchId, .. arguments]).ConfigureAwait(false))!;
        var verdict = Enum.Parse<RecoveryVerdict>((string)reply[0]!);
        var from = (string?)reply[1] is { Length: > 0 } state ? Enum.Parse<RecoveryState>(state) : (RecoveryState?)null;
        var applied = Enum.Parse<RecoveryTrigger>((string)reply[2]!);
        var recovery = reply.Length > 3 ? RecoveryRecord.FromFlatList([.. reply.Skip(3).Select(r => r.ToString() ?? string.Empty)]) : null;
        return new RecoveryTransition(verdict, from, applied, recovery);
    }

    public Task<RecoveryTransition> DispatchAsync(string callId, string switchId, string connectionId, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Dispatch, now, switchId, connectionId);

    public Task<RecoveryTransition> AcceptAsync(string callId, string switchId, uint attempt, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Accept, now, switchId, attempt);

    public Task<RecoveryTransition> RejectAsync(string callId, string switchId, uint attempt, string detail, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Reject, now, switchId, attempt, detail);

    public Task<RecoveryTransition> ProgressAsync(string callId, string switchId, string stage, DateTimeOffset at, DateTimeOffset now, uint callbackAttempt = 0) =>
        ApplyAsync(callId, RecoveryTrigger.Progress, now, switchId, stage, at.ToUnixTimeMilliseconds(), callbackAttempt);

    /// <summary>
    /// The switch's outcome of a callback. With <paramref name="retryGap"/> above zero (the outcome is worth another
    /// callback), it becomes a <see cref="RecoveryTrigger.Retry"/> when fewer than <paramref name="maxCallbackAttempts"/>
    /// callbacks were tried and the next one, after the gap, still comes before the deadline.
    /// </summary>
    public Task<RecoveryTransition> OutcomeAsync(string callId, string switchId, string outcome, DateTimeOffset at, TimeSpan talkTime, string failureCause, uint surveyScore, string reconnectCallId, DateTimeOffset now,
        uint callbackAttempt = 0, TimeSpan retryGap = default, int maxCallbackAttempts = 1) =>
        ApplyAsync(callId, RecoveryTrigger.Outcome, now, switchId, outcome, at.ToUnixTimeMilliseconds(), (long)talkTime.TotalMilliseconds, failureCause, surveyScore, reconnectCallId,
            callbackAttempt, (long)retryGap.TotalMilliseconds, maxCallbackAttempts);

    public Task<RecoveryTransition> ExpireAsync(string callId, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Expire, now, string.Empty, string.Empty);

    /// <summary>Ends a delayed callback that came due in quiet hours lasting past its deadline.</summary>
    public Task<RecoveryTransition> ExpireForQuietHoursAsync(string callId, DateTimeOffset now, string detail) =>
        ApplyAsync(callId, RecoveryTrigger.Expire, now, string.Empty, "quiet", detail);

    /// <summary>Puts a delayed callback off until <paramref name="dueAt"/> (the end of the customer's quiet hours).</summary>
    public Task<RecoveryTransition> DeferAsync(string callId, DateTimeOffset dueAt, string detail, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Defer, now, string.Empty, dueAt.ToUnixTimeMilliseconds(), detail);

    /// <summary>Holds a queued recovery for an outage incident.</summary>
    public Task<RecoveryTransition> HoldAsync(string callId, string incidentId, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Hold, now, string.Empty, incidentId);

    /// <summary>Releases a recovery held for its customer's coverage, if <paramref name="number"/> is its customer and was reachable after the drop.</summary>
    public Task<RecoveryTransition> ReleaseReachableAsync(string callId, string number, DateTimeOffset reachableAt, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Release, now, string.Empty, "reachable", number, reachableAt.ToUnixTimeMilliseconds());

    /// <summary>Releases a recovery held by the outage incident <paramref name="incidentId"/>.</summary>
    public Task<RecoveryTransition> ReleaseFromIncidentAsync(string callId, string incidentId, DateTimeOffset now) =>
        ApplyAsync(callId, RecoveryTrigger.Release, now, string.Empty, "incident", incidentId);

    /// <summary>Cancels because the parties redialled: only for a connection after the drop that is not the dropped call itself.</summary>
    public Task<RecoveryTransition> CancelForRedialAsync(string callId, DateTimeOffset now, string connectedCallId, DateTimeOffset connectedAt) =>
        ApplyAsync(callId, RecoveryTrigger.Cancel, now, string.Empty, "the parties reached each other before the callback", "redial", connectedCallId, connectedAt.ToUnixTimeMilliseconds());

    /// <summary>Cancels because of something about one party (opted out, emergency call): only if the number is one of the recovery's parties.</summary>
    public Task<RecoveryTransition> CancelForPartyAsync(string callId, DateTimeOffset now, string number, string detail) =>
        ApplyAsync(callId, RecoveryTrigger.Cancel, now, string.Empty, detail, "party", number);

    /// <summary>Cancels for the reason given (the dispatch-time safety check found one).</summary>
    public Task<RecoveryTransition> CancelAsync(string callId, DateTimeOffset now, string detail) =>
        ApplyAsync(callId, RecoveryTrigger.Cancel, now, string.Empty, detail, string.Empty);

    /// <summary>
    /// Remembers that two parties reached each other (until callbacks between them are past their deadline) and
    /// returns the call ids of the recoveries between them, atomically on the pair's slot.
    /// </summary>
    public async Task<IReadOnlyList<string>> RecordConnectionAsync(string caller, string callee, string callId, DateTimeOffset answeredAt, DateTimeOffset forgetBefore, TimeSpan keep)
    {
        var result = await Db.EvaluateAsync(RecoveryScripts.RecordConnection, [_keys.PartyPairConnections(caller, callee), _keys.PartyPair(caller, callee)],
            [callId, answeredAt.ToUnixTimeMilliseconds(), forgetBefore.ToUnixTimeMilliseconds(), (long)keep.TotalMilliseconds]).ConfigureAwait(false);
        return [.. ((RedisResult[])result!).Select(r => (string)r!)];
    }

    /// <summary>A subscriber's calls that dropped at or after <paramref name="since"/> (either party), from the lookup index.</summary>
    public async Task<IReadOnlyList<string>> CallsOfSinceAsync(string number, DateTimeOffset since) =>
        [.. (await Db.SortedSetRangeByScoreAsync(_keys.SubscriberCalls(number), since.ToUnixTimeMilliseconds(), double.PositiveInfinity).ConfigureAwait(false)).Select(v => v.ToString())];

    /// <summary>
    /// Why this recovery must not be placed now, or null: a party opted out or is under emergency protection, or
    /// the parties reached each other since the drop. Read after the recovery is marked dispatched; the writers
    /// of these facts write first and then look for recoveries to cancel, so one of the two always sees the other.
    /// </summary>
    public async Task<string?> SafetyProblemAsync(RecoveryRecord recovery)
    {
        // One call per party (its opt-out and protection share its slot) and one for the pair, batched with the
        // other commands being dispatched.
        var customer = _partyFacts.EvaluateAsync([_keys.OptOut(recovery.CallBack), _keys.EmergencyProtection(recovery.CallBack)], []);
        var other = _partyFacts.EvaluateAsync([_keys.OptOut(recovery.OtherParty), _keys.EmergencyProtection(recovery.OtherParty)], []);
        var connected = _connections.EvaluateAsync([_keys.PartyPairConnections(recovery.CallBack, recovery.OtherParty)], [recovery.DropTime.ToUnixTimeMilliseconds()]);
        await Task.WhenAll(customer, other, connected).ConfigureAwait(false);
        var (optedOut, protection) = Facts(customer.Result);
        var (otherOptedOut, otherProtection) = Facts(other.Result);
        return optedOut ? "the customer opted out since the decision"
            : otherOptedOut ? "the party to reconnect opted out since the decision"
            : protection ? "the customer is under emergency protection since the decision"
            : otherProtection ? "the party to reconnect is under emergency protection since the decision"
            : ((RedisValue[])connected.Result!).Any(c => c != recovery.CallId) ? "the parties reached each other before the callback"
            : null;

        static (bool OptedOut, bool Protected) Facts(RedisResult reply)
        {
            var facts = (long[])reply!;
            return (facts[0] > 0, facts[1] > 0);
        }
    }

    public Task RequeueAsync(string switchId, IReadOnlyCollection<string> callIds, DateTimeOffset dueAt) =>
        callIds.Count == 0
            ? Task.CompletedTask
            : Db.EvaluateAsync(RecoveryScripts.Requeue, [_keys.SwitchDue(switchId), _keys.SwitchInFlight(switchId)],
                [dueAt.ToUnixTimeMilliseconds(), .. callIds.Select(c => (RedisValue)c)]);

    /// <summary>Puts a command (back) in its switch's queue at <paramref name="dueAt"/>, with its deadline.</summary>
    public Task RescheduleAsync(string switchId, string callId, DateTimeOffset dueAt, DateTimeOffset deadline) =>
        _reschedules.EvaluateAsync(SwitchKeys(switchId), [callId, dueAt.ToUnixTimeMilliseconds(), deadline.ToUnixTimeMilliseconds(), _ttlMs]);

    /// <summary>
    /// Makes sure a command is in its switch's queue, adding nothing that is there: not in the due set at another time
    /// (a rejection's backoff), not when it is in flight. For moves repeated after a failure, which must not send twice.
    /// </summary>
    public Task EnsureQueuedAsync(string switchId, string callId, DateTimeOffset dueAt, DateTimeOffset deadline) =>
        _enqueues.EvaluateAsync(SwitchKeys(switchId), [_ttlMs, callId, dueAt.ToUnixTimeMilliseconds(), deadline.ToUnixTimeMilliseconds()]);

    /// <summary>Takes a held command out of its switch's due and in-flight sets; its deadline stays, so it still expires.</summary>
    public Task ParkAsync(string switchId, string callId) =>
        _settlements.EvaluateAsync([_keys.SwitchDue(switchId), _keys.SwitchInFlight(switchId)], [callId]);

    /// <summary>Remembers when subscribers were reachable (the latest time wins), for <paramref name="keep"/>: one run for a batch's subscribers.</summary>
    public Task MarkReachableAsync(IReadOnlyList<(string Number, DateTimeOffset At)> subscribers, TimeSpan keep) =>
        Db.EvaluateEachAsync(RecoveryScripts.MarkReachable, [.. subscribers.Select(s =>
            new ScriptCall([_keys.SubscriberReachable(s.Number)], [s.At.ToUnixTimeMilliseconds(), (long)keep.TotalMilliseconds]))]);

    /// <summary>When the subscriber was last reachable, if known.</summary>
    public async Task<DateTimeOffset?> ReachableAtAsync(string number)
    {
        var value = await Db.StringGetAsync(_keys.SubscriberReachable(number)).ConfigureAwait(false);
        return value.TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    /// <summary>Removes commands that need no more delivery from the switch's queue.</summary>
    public Task SettleEntriesAsync(string switchId, params string[] callIds) =>
        callIds.Length == 0
            ? Task.CompletedTask
            : _settlements.EvaluateAsync(SwitchKeys(switchId), [.. callIds.Select(c => (RedisValue)c)]);

    /// <summary>Moves overdue acknowledgements back to due, and leases commands past their deadline for expiry.</summary>
    public async Task<(IReadOnlyList<string> Overdue, IReadOnlyList<string> Expiring)> SweepAsync(string switchId, DateTimeOffset now, TimeSpan lease, int most)
    {
        var result = (RedisResult[])(await Db.EvaluateAsync(RecoveryScripts.SweepSwitch, SwitchKeys(switchId),
            [now.ToUnixTimeMilliseconds(), (now + lease).ToUnixTimeMilliseconds(), most]).ConfigureAwait(false))!;
        return ([.. ((RedisResult[])result[0]!).Select(r => (string)r!)], [.. ((RedisResult[])result[1]!).Select(r => (string)r!)]);
    }

    public async Task<IReadOnlyList<string>> SwitchesWithWorkAsync() =>
        [.. (await Db.SetMembersAsync(_keys.Switches()).ConfigureAwait(false)).Select(v => v.ToString())];

    public async Task<RecoveryRecord?> GetAsync(string callId)
    {
        var entries = await Db.HashGetAllAsync(_keys.Recovery(callId)).ConfigureAwait(false);
        return entries.Length == 0 ? null : RecoveryRecord.FromHash(entries);
    }

    public async Task<(long Due, long InFlight)> QueueLengthsAsync(string switchId)
    {
        var due = Db.SortedSetLengthAsync(_keys.SwitchDue(switchId));
        var inFlight = Db.SortedSetLengthAsync(_keys.SwitchInFlight(switchId));
        return (await due.ConfigureAwait(false), await inFlight.ConfigureAwait(false));
    }

    private RedisKey[] SwitchKeys(string switchId) => [_keys.SwitchDue(switchId), _keys.SwitchInFlight(switchId), _keys.SwitchDeadlines(switchId)];
}
