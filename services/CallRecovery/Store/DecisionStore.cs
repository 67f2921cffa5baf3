using System.Globalization;
using CallRecovery.Decisions;
using CallRecovery.Dispatch;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Store;

/// <summary>A decision about to be made durable: the draft record, and for a candidate its classification and event.</summary>
public sealed record PendingDecision(DecisionRecord Draft, Classification? Candidate = null, CallDrop? Drop = null, RecoveryPlan? Plan = null);

/// <summary>A subscriber made an emergency call at this time; protection runs from then.</summary>
public sealed record EmergencyCall(string Caller, DateTimeOffset At);

/// <summary>The decision as Redis holds it. <see cref="IsNew"/> is false when a replay found it already decided.</summary>
public sealed record SettledDecision(DecisionRecord Record, bool IsNew, PendingDecision Pending);

/// <summary>
/// Makes decisions durable in Redis, a batch at a time, in at most four pipelined rounds whatever the batch
/// size: (1) record final decisions and claim candidate calls, (2) admit the callback subscriber and check
/// the other party, (3) settle each candidate, (4) give back window places that did not become recoveries.
/// Each round's scripts touch one hash slot each, so this runs unchanged on Redis Cluster. Every step is
/// idempotent per event id and call id, so retrying a batch after a failure or replaying a partition
/// changes nothing.
/// </summary>
public sealed class DecisionStore(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<RecoveryPolicyOptions> policy, TimeProvider time)
{
    private readonly RedisKeys _keys = new(redisOptions.Value.KeyPrefix);
    private readonly long _retentionMs = (long)redisOptions.Value.Retention.TotalMilliseconds;
    private readonly RecoveryPolicyOptions _policy = policy.Value;

    public RedisKeys Keys => _keys;

    public async Task<IReadOnlyList<SettledDecision>> SettleAsync(IReadOnlyList<PendingDecision> batch, IReadOnlyList<EmergencyCall> emergencyCalls)
    {
        var db = redis.GetDatabase();
        var settled = new SettledDecision?[batch.Count];

        // Round 1: non-candidates are final; candidates learn whether their call is already decided.
        var round1 = new Task<RedisResult>[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var draft = batch[i].Draft;
            round1[i] = batch[i].Candidate is null
                ? Settle(db, draft, recovery: null)
                : db.ScriptEvaluateAsync(LuaScripts.ClaimCall, [_keys.CallDecisions(draft.CallId), _keys.Recovery(draft.CallId)], [draft.EventId, draft.ToJson(), _retentionMs]);
        }

        var protections = emergencyCalls.Select(call => Protect(db, call)).ToArray();
        var indexed = IndexSubscribers(db, batch);
        await Task.WhenAll(round1).ConfigureAwait(false);
        await Task.WhenAll(protections).ConfigureAwait(false);
        await Task.WhenAll(indexed).ConfigureAwait(false);

        var open = new List<int>();
        for (var i = 0; i < batch.Count; i++)
        {
            var reply = (RedisResult[])round1[i].Result!;
            if ((string?)reply[0] == "open")
            {
                open.Add(i);
            }
            else
            {
                settled[i] = FromReply(reply, batch[i]);
            }
        }

        // Round 2: the callback party's limits (reserving a place) and the other party's opt-out and protection.
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var admissions = open.Select(i => (
            CallBack: Admit(db, batch[i].Candidate!.CallBack, batch[i].Draft.CallId, now, reserve: true),
            Other: Admit(db, batch[i].Candidate!.OtherParty, batch[i].Draft.CallId, now, reserve: false))).ToArray();
        await Task.WhenAll(admissions.SelectMany(a => new[] { a.CallBack, a.Other })).ConfigureAwait(false);

        // Round 3: settle every open candidate.
        var releases = new List<(string Number, string CallId)>();
        var round3 = new Task<RedisResult>[open.Count];
        for (var n = 0; n < open.Count; n++)
        {
            var pending = batch[open[n]];
            var callBack = Verdict(admissions[n].CallBack.Result);
            var other = Verdict(admissions[n].Other.Result);
            if (callBack.Reason == DecisionReason.Accepted && other.Reason == DecisionReason.Accepted)
            {
                var recovery = NewRecovery(pending);
                round3[n] = Settle(db, pending.Draft with { RecoveryId = recovery.RecoveryId }, recovery);
                continue;
            }

            var blocked = callBack.Reason != DecisionReason.Accepted ? callBack : other with { Detail = "the party to reconnect: " + other.Reason.ToWireName() };
            if (callBack.Reason == DecisionReason.Accepted)
            {
                releases.Add((pending.Candidate!.CallBack, pending.Draft.CallId));
            }

            round3[n] = Settle(db, pending.Draft with { Reason = blocked.Reason, Detail = blocked.Detail }, recovery: null);
        }

        await Task.WhenAll(round3).ConfigureAwait(false);
        for (var n = 0; n < open.Count; n++)
        {
            var reply = (RedisResult[])round3[n].Result!;
            var pending = batch[open[n]];
            settled[open[n]] = FromReply(reply, pending);
            if ((string?)reply[0] == "duplicate" && (string?)reply[2] != pending.Candidate!.CallBack)
            {
                // Another report named a different callback party and won; this reservation is not a recovery.
                releases.Add((pending.Candidate.CallBack, pending.Draft.CallId));
            }
        }

        // Round 4: rare; give back places reserved for calls that did not become this subscriber's recovery.
        await Task.WhenAll(releases.Select(r => db.ScriptEvaluateAsync(LuaScripts.ReleaseSubscriber, [_keys.SubscriberRecoveries(r.Number)], [r.CallId]))).ConfigureAwait(false);
        return settled!;
    }

    public async Task<(IReadOnlyList<DecisionRecord> Decisions, RecoveryRecord? Recovery)> GetCallAsync(string callId)
    {
        var db = redis.GetDatabase();
        var decisions = db.HashValuesAsync(_keys.CallDecisions(callId));
        var recovery = db.HashGetAllAsync(_keys.Recovery(callId));
        await Task.WhenAll(decisions, recovery).ConfigureAwait(false);
        var records = decisions.Result.Select(v => DecisionRecord.FromJson(v.ToString())).OrderBy(d => d.DecidedAt).ThenBy(d => d.EventId, StringComparer.Ordinal).ToList();
        return (records, recovery.Result.Length == 0 ? null : RecoveryRecord.FromHash(recovery.Result));
    }

    /// <summary>A subscriber's most recent dropped calls, newest first.</summary>
    public async Task<IReadOnlyList<string>> CallsOfAsync(string number, int most) =>
        [.. (await redis.GetDatabase().SortedSetRangeByRankAsync(_keys.SubscriberCalls(number), 0, most - 1, Order.Descending).ConfigureAwait(false)).Select(v => v.ToString())];

    public Task SetOptOutAsync(string number, bool optedOut)
    {
        var db = redis.GetDatabase();
        return optedOut
            ? db.StringSetAsync(_keys.OptOut(number), time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), _policy.OptOutDuration)
            : db.KeyDeleteAsync(_keys.OptOut(number));
    }

    public Task<bool> IsOptedOutAsync(string number) => redis.GetDatabase().KeyExistsAsync(_keys.OptOut(number));

    private Task<RedisResult> Settle(IDatabaseAsync db, DecisionRecord draft, RecoveryRecord? recovery)
    {
        var args = new List<RedisValue> { draft.EventId, draft.ToJson(), _retentionMs, recovery is null ? "0" : "1" };
        if (recovery is not null)
        {
            foreach (var entry in recovery.ToHashEntries())
            {
                args.Add(entry.Name);
                args.Add(entry.Value);
            }
        }

        return db.ScriptEvaluateAsync(LuaScripts.SettleCall, [_keys.CallDecisions(draft.CallId), _keys.Recovery(draft.CallId)], [.. args]);
    }

    /// <summary>Both parties' call lists (the latest 100), so an engineer can look a subscriber up; pipelined with round 1.</summary>
    private List<Task> IndexSubscribers(IDatabaseAsync db, IReadOnlyList<PendingDecision> batch)
    {
        var work = new List<Task>();
        foreach (var drop in batch.Select(p => p.Drop).OfType<CallDrop>())
        {
            foreach (var number in new[] { drop.Caller, drop.Callee }.Where(PhoneNumbers.IsE164))
            {
                var key = _keys.SubscriberCalls(number);
                work.Add(db.SortedSetAddAsync(key, drop.CallId, drop.DropTime.ToUnixTimeMilliseconds()));
                work.Add(db.SortedSetRemoveRangeByRankAsync(key, 0, -101));
                work.Add(db.KeyExpireAsync(key, TimeSpan.FromMilliseconds(_retentionMs)));
            }
        }

        return work;
    }

    private Task<RedisResult> Admit(IDatabaseAsync db, string number, string callId, long now, bool reserve) =>
        db.ScriptEvaluateAsync(
            LuaScripts.AdmitSubscriber,
            [_keys.SubscriberRecoveries(number), _keys.OptOut(number), _keys.EmergencyProtection(number)],
            [callId, now, (long)_policy.Window.TotalMilliseconds, _policy.MaxRecoveriesPerWindow, (long)_policy.CoolOff.TotalMilliseconds, reserve ? "1" : "0"]);

    private Task Protect(IDatabaseAsync db, EmergencyCall call)
    {
        var until = call.At.Add(_policy.EmergencyProtection);
        if (until <= time.GetUtcNow())
        {
            return Task.CompletedTask;
        }

        return db.ScriptEvaluateAsync(LuaScripts.ProtectSubscriber, [_keys.EmergencyProtection(call.Caller)], [until.ToUnixTimeMilliseconds()]);
    }

    private RecoveryRecord NewRecovery(PendingDecision pending)
    {
        var drop = pending.Drop!;
        var plan = pending.Plan!;
        return new RecoveryRecord
        {
            RecoveryId = RecoveryIds.New(drop.CallId, time.GetUtcNow()),
            CallId = drop.CallId,
            State = RecoveryState.Pending,
            CallBack = pending.Candidate!.CallBack,
            OtherParty = pending.Candidate.OtherParty,
            DropTime = drop.DropTime,
            AcceptedAt = time.GetUtcNow(),
            EventId = drop.EventId,
            Cause = drop.Cause.Value,
            ServingCell = drop.ServingCell,
            SwitchingNode = drop.SwitchingNode,
            AccessTechnology = drop.AccessTechnology.ToString(),
            SwitchId = plan.SwitchId,
            DueAt = plan.DueAt,
            Deadline = plan.Deadline,
            TraceParent = drop.TraceParent,
        };
    }

    private static (DecisionReason Reason, string Detail) Verdict(RedisResult result)
    {
        var reply = (RedisResult[])result!;
        var reason = (string?)reply[0] switch
        {
            "admitted" => DecisionReason.Accepted,
            "opted_out" => DecisionReason.OptedOut,
            "emergency_protection" => DecisionReason.EmergencyProtection,
            "rate_limited" => DecisionReason.RateLimited,
            var other => throw new InvalidOperationException($"Unexpected admission verdict '{other}'."),
        };
        return (reason, (string?)reply[1] ?? string.Empty);
    }

    private static SettledDecision FromReply(RedisResult[] reply, PendingDecision pending) =>
        new(DecisionRecord.FromJson((string)reply[1]!), IsNew: (string?)reply[0] != "replay", pending);
}
