using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;

namespace CallRecovery.Decisions;

/// <summary>A decision about to be made durable: the draft record, and for a candidate its classification and event.</summary>
public sealed record PendingDecision(DecisionRecord Draft, Classification? Candidate = null, CallDrop? Drop = null, RecoveryPlan? Plan = null);

/// <summary>A subscriber took part in an emergency call at this time (made it, or was called back by the emergency centre); protection runs from then.</summary>
public sealed record EmergencyCall(string Number, DateTimeOffset At);

/// <summary>One change of a subscriber's opt-out: what, when, who (the authenticated principal) and from where (the caller's address).</summary>
public sealed record OptOutChange(bool OptedOut, DateTimeOffset At, string By, string From)
{
    /// <summary>Reads a stored change; an opt-out set before changes were audited held only its time.</summary>
    public static OptOutChange Read(string stored) =>
        stored.StartsWith('{')
            ? JsonSerializer.Deserialize(stored, StoreJson.Default.OptOutChange) ?? throw new FormatException("Empty opt-out change.")
            : new OptOutChange(true, DateTimeOffset.TryParse(stored, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : DateTimeOffset.UnixEpoch, "unknown (set before opt-outs were audited)", "unknown");
}

/// <summary>The decision as Redis holds it. <see cref="IsNew"/> is false when a replay found it already decided.</summary>
public sealed record SettledDecision(DecisionRecord Record, bool IsNew, PendingDecision Pending);

/// <summary>
/// Makes decisions durable in Redis, a batch at a time, in a few pipelined rounds whatever the batch size:
/// (1) record final decisions, claim candidate calls and look for a reconnection of the two parties since the
/// drop, (2) admit the callback subscriber (reserving a place in their window) and check the other party,
/// (3) give back places reserved for calls that will not become that subscriber's recovery, (4) settle.
/// A place is always given back before the decision that makes it unneeded is recorded, so a crash between
/// two rounds leaves no phantom place: the replay finds the call undecided and does it all again.
/// Each script touches one hash slot, so this runs unchanged on Redis Cluster. Every step is idempotent per
/// event id and call id, so retrying a batch or replaying a partition changes nothing.
/// </summary>
public sealed class DecisionStore([FromKeyedServices(RedisServiceCollectionExtensions.Decisions)] IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<RecoveryPolicyOptions> policy, TimeProvider time)
{
    private readonly RedisKeys _keys = RedisKeys.For(redisOptions.Value);
    private readonly long _retentionMs = (long)redisOptions.Value.Retention.TotalMilliseconds;
    private readonly RecoveryPolicyOptions _policy = policy.Value;

    public RedisKeys Keys => _keys;

    public async Task<IReadOnlyList<SettledDecision>> SettleAsync(IReadOnlyList<PendingDecision> batch, IReadOnlyList<EmergencyCall> protections, IReadOnlyList<ConnectionReported> connections)
    {
        var db = redis.GetDatabase();
        var now = time.GetUtcNow();
        var settled = new SettledDecision?[batch.Count];

        // Round 1: non-candidates are final; candidates learn whether their call is decided or taken, and whether the parties already reached each other.
        var round1 = new Task<RedisResult>[batch.Count];
        var reconnected = new Task<RedisValue[]>?[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var draft = batch[i].Draft;
            if (batch[i].Candidate is not { } candidate)
            {
                round1[i] = Settle(db, draft, recovery: null);
                continue;
            }

            round1[i] = db.EvaluateAsync(DecisionScripts.ClaimCall, [_keys.CallDecisions(draft.CallId), _keys.Recovery(draft.CallId)], [draft.EventId]);
            reconnected[i] = db.SortedSetRangeByScoreAsync(_keys.PartyPairConnections(candidate.CallBack, candidate.OtherParty),
                batch[i].Drop!.DropTime.ToUnixTimeMilliseconds(), double.PositiveInfinity, Exclude.Start, take: 2);
        }

        var protecting = protections.Select(call => Protect(db, call, now)).ToArray();
        var indexed = IndexSubscribers(db, batch);
        await Task.WhenAll(round1).ConfigureAwait(false);
        await Task.WhenAll(reconnected.OfType<Task<RedisValue[]>>()).ConfigureAwait(false);
        await Task.WhenAll(protecting).ConfigureAwait(false);
        await Task.WhenAll(indexed).ConfigureAwait(false);

        var releases = new List<(string Number, string CallId)>();
        var records = new List<(int Index, DecisionRecord Draft)>();
        var open = new List<int>();
        for (var i = 0; i < batch.Count; i++)
        {
            var reply = (RedisResult[])round1[i].Result!;
            var pending = batch[i];
            switch ((string?)reply[0])
            {
                case "replay" or "new":
                    settled[i] = FromReply(reply, pending);
                    break;
                case "taken":
                    Duplicate(i, (string)reply[1]!, (string?)reply[2] ?? string.Empty);
                    break;
                default:
                    if (Reconnection(pending, reconnected[i]!.Result, connections) is { } detail)
                    {
                        Suppress(i, DecisionReason.ReconnectedAlready, detail);
                    }
                    else
                    {
                        open.Add(i);
                    }

                    break;
            }
        }

        // Round 2: the callback party's limits (reserving a place) and the other party's opt-out and protection,
        // with the give-backs round 1 found (they precede their records, which wait for round 4).
        var admissions = open.Select(i => (
            CallBack: Admit(db, batch[i].Candidate!.CallBack, batch[i], now, reserve: true),
            Other: Admit(db, batch[i].Candidate!.OtherParty, batch[i], now, reserve: false))).ToArray();
        var released = Release(db, releases);
        await Task.WhenAll(admissions.SelectMany(a => new[] { a.CallBack, a.Other })).ConfigureAwait(false);
        await released.ConfigureAwait(false);

        // Round 3: give back the places of candidates blocked by the other party, before their decisions are recorded.
        var creates = new List<(int Index, RecoveryRecord Recovery)>();
        for (var n = 0; n < open.Count; n++)
        {
            var i = open[n];
            var callBack = Verdict(admissions[n].CallBack.Result);
            var other = Verdict(admissions[n].Other.Result);
            if (callBack.Reason == DecisionReason.Accepted && other.Reason == DecisionReason.Accepted)
            {
                creates.Add((i, NewRecovery(batch[i])));
            }
            else if (callBack.Reason != DecisionReason.Accepted)
            {
                records.Add((i, batch[i].Draft with { Reason = callBack.Reason, Detail = callBack.Detail }));
            }
            else
            {
                Suppress(i, other.Reason, "the party to reconnect: " + other.Reason.ToWireName());
            }
        }

        await Release(db, releases).ConfigureAwait(false);

        // Round 4: create the recoveries and record the suppressions.
        var created = creates.Select(c => Settle(db, batch[c.Index].Draft with { RecoveryId = c.Recovery.RecoveryId }, c.Recovery)).ToArray();
        var recorded = records.Select(r => Settle(db, r.Draft, recovery: null)).ToArray();
        await Task.WhenAll(created.Concat(recorded)).ConfigureAwait(false);
        for (var n = 0; n < records.Count; n++)
        {
            settled[records[n].Index] = FromReply((RedisResult[])recorded[n].Result!, batch[records[n].Index]);
        }

        records.Clear();
        for (var n = 0; n < creates.Count; n++)
        {
            var i = creates[n].Index;
            var reply = (RedisResult[])created[n].Result!;
            if ((string?)reply[0] == "taken")
            {
                // Another report of the call won meanwhile (maybe naming the other party to call back).
                Duplicate(i, (string)reply[1]!, (string?)reply[2] ?? string.Empty);
            }
            else
            {
                settled[i] = FromReply(reply, batch[i]);
            }
        }

        // Round 5, rare: give back, then record, for reports that lost the race for their call.
        if (records.Count > 0)
        {
            await Release(db, releases).ConfigureAwait(false);
            var late = records.Select(r => Settle(db, r.Draft, recovery: null)).ToArray();
            await Task.WhenAll(late).ConfigureAwait(false);
            for (var n = 0; n < records.Count; n++)
            {
                settled[records[n].Index] = FromReply((RedisResult[])late[n].Result!, batch[records[n].Index]);
            }
        }

        return settled!;

        // A candidate that will not be recovered: its place (if an earlier, interrupted try reserved one) goes back first.
        void Suppress(int i, DecisionReason reason, string detail)
        {
            releases.Add((batch[i].Candidate!.CallBack, batch[i].Draft.CallId));
            records.Add((i, batch[i].Draft with { Reason = reason, Detail = detail }));
        }

        // The call already has a recovery: a place under this call id is legitimately held only by that recovery's callback party.
        void Duplicate(int i, string recoveryId, string recoveryCallBack)
        {
            if (!string.Equals(recoveryCallBack, batch[i].Candidate!.CallBack, StringComparison.Ordinal))
            {
                releases.Add((batch[i].Candidate!.CallBack, batch[i].Draft.CallId));
            }

            records.Add((i, batch[i].Draft with { Reason = DecisionReason.Duplicate, Detail = "the call already has recovery " + recoveryId, RecoveryId = recoveryId }));
        }
    }

    /// <summary>Did the two parties reach each other after the drop (a call-connected event, remembered in Redis or in this batch)?</summary>
    private static string? Reconnection(PendingDecision pending, RedisValue[] remembered, IReadOnlyList<ConnectionReported> batchConnections)
    {
        var drop = pending.Drop!;
        var candidate = pending.Candidate!;
        if (remembered.Any(callId => callId != drop.CallId))
        {
            return "the parties reached each other after the drop";
        }

        return batchConnections.Any(c => c.CallId != drop.CallId && c.AnswerTime > drop.DropTime && IsPair(c, candidate.CallBack, candidate.OtherParty))
            ? "the parties reached each other after the drop"
            : null;

        static bool IsPair(ConnectionReported c, string a, string b) =>
            (c.Caller == a && c.Callee == b) || (c.Caller == b && c.Callee == a);
    }

    private Task Release(IDatabaseAsync db, List<(string Number, string CallId)> releases)
    {
        var work = releases.Select(r => db.EvaluateAsync(DecisionScripts.ReleaseSubscriber, [_keys.SubscriberRecoveries(r.Number)], [r.CallId])).ToArray();
        releases.Clear();
        return Task.WhenAll(work);
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

    /// <summary>
    /// Sets or removes a subscriber's opt-out and appends the change to their audit trail, in one transaction (both
    /// keys are the subscriber's slot). The opt-out key holds the change that set it; the trail keeps the latest
    /// <see cref="OptOutAuditLength"/> changes, set and removed, as long as an opt-out lasts.
    /// </summary>
    public async Task SetOptOutAsync(string number, OptOutChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var json = JsonSerializer.Serialize(change, StoreJson.Default.OptOutChange);
        var transaction = redis.GetDatabase().CreateTransaction();
        _ = change.OptedOut
            ? transaction.StringSetAsync(_keys.OptOut(number), json, _policy.OptOutDuration)
            : transaction.KeyDeleteAsync(_keys.OptOut(number));
        _ = transaction.ListLeftPushAsync(_keys.OptOutAudit(number), json);
        _ = transaction.ListTrimAsync(_keys.OptOutAudit(number), 0, OptOutAuditLength - 1);
        _ = transaction.KeyExpireAsync(_keys.OptOutAudit(number), _policy.OptOutDuration);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    public const int OptOutAuditLength = 50;

    /// <summary>The change that set the current opt-out (null when not opted out) and the audit trail, newest first.</summary>
    public async Task<(OptOutChange? Current, IReadOnlyList<OptOutChange> Trail)> GetOptOutAsync(string number)
    {
        var db = redis.GetDatabase();
        var current = db.StringGetAsync(_keys.OptOut(number));
        var trail = db.ListRangeAsync(_keys.OptOutAudit(number));
        await Task.WhenAll(current, trail).ConfigureAwait(false);
        return (current.Result.IsNull ? null : OptOutChange.Read(current.Result.ToString()), [.. trail.Result.Select(v => OptOutChange.Read(v.ToString()))]);
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

        return db.EvaluateAsync(DecisionScripts.SettleCall, [_keys.CallDecisions(draft.CallId), _keys.Recovery(draft.CallId)], [.. args]);
    }

    /// <summary>Both parties' call lists (the latest 100), so an engineer can look a subscriber up; pipelined with round 1.</summary>
    private List<Task> IndexSubscribers(IDatabaseAsync db, IReadOnlyList<PendingDecision> batch)
    {
        var work = new List<Task>();
        foreach (var drop in batch.Select(p => p.Drop).OfType<CallDrop>())
        {
            foreach (var number in new[] { drop.Caller, drop.Callee }.Where(PhoneNumbers.IsE164))
            {
                // One script, not three commands: a third of the round trips and client work per subscriber.
                work.Add(db.EvaluateAsync(DecisionScripts.IndexCall, [_keys.SubscriberCalls(number)], [drop.CallId, drop.DropTime.ToUnixTimeMilliseconds(), _retentionMs]));
            }
        }

        return work;
    }

    private Task<RedisResult> Admit(IDatabaseAsync db, string number, PendingDecision pending, DateTimeOffset now, bool reserve) =>
        db.EvaluateAsync(
            DecisionScripts.AdmitSubscriber,
            [_keys.SubscriberRecoveries(number), _keys.OptOut(number), _keys.EmergencyProtection(number)],
            [pending.Draft.CallId, pending.Drop!.DropTime.ToUnixTimeMilliseconds(), (long)_policy.Window.TotalMilliseconds, _policy.MaxRecoveriesPerWindow,
                (long)_policy.CoolOff.TotalMilliseconds, reserve ? "1" : "0", now.ToUnixTimeMilliseconds()]);

    private Task Protect(IDatabaseAsync db, EmergencyCall call, DateTimeOffset now)
    {
        var until = call.At.Add(_policy.EmergencyProtection);
        if (until <= now || !PhoneNumbers.IsE164(call.Number))
        {
            return Task.CompletedTask;
        }

        return db.EvaluateAsync(DecisionScripts.ProtectSubscriber, [_keys.EmergencyProtection(call.Number)], [until.ToUnixTimeMilliseconds()]);
    }

    private RecoveryRecord NewRecovery(PendingDecision pending)
    {
        var drop = pending.Drop!;
        var plan = pending.Plan!;
        return new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(drop.CallId),
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
