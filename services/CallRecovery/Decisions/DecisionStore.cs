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
        // Each kind of step goes as one run of its script for the whole batch (one per hash slot on a cluster).
        var finals = Enumerable.Range(0, batch.Count).Where(i => batch[i].Candidate is null).ToList();
        var candidates = Enumerable.Range(0, batch.Count).Where(i => batch[i].Candidate is not null).ToList();
        var finalled = Settle(db, [.. finals.Select(i => (batch[i].Draft, (RecoveryRecord?)null))]);
        var claims = db.EvaluateEachAsync(DecisionScripts.ClaimCall, [.. candidates.Select(i =>
            new ScriptCall([_keys.CallDecisions(batch[i].Draft.CallId), _keys.Recovery(batch[i].Draft.CallId)], [batch[i].Draft.EventId]))]);
        var reconnected = db.EvaluateEachAsync(RecoveryScripts.ConnectionsSince, [.. candidates.Select(i =>
            new ScriptCall([_keys.PartyPairConnections(batch[i].Candidate!.CallBack, batch[i].Candidate!.OtherParty)], [batch[i].Drop!.DropTime.ToUnixTimeMilliseconds()]))]);
        var protecting = Protect(db, protections, now);
        var indexed = IndexSubscribers(db, batch);
        await Task.WhenAll(finalled, claims, reconnected, protecting, indexed).ConfigureAwait(false);
        for (var n = 0; n < finals.Count; n++)
        {
            settled[finals[n]] = FromReply((RedisResult[])finalled.Result[n]!, batch[finals[n]]);
        }

        var releases = new List<(string Number, string CallId)>();
        var records = new List<(int Index, DecisionRecord Draft)>();
        var open = new List<int>();
        for (var n = 0; n < candidates.Count; n++)
        {
            var i = candidates[n];
            var reply = (RedisResult[])claims.Result[n]!;
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
                    if (Reconnection(pending, (RedisValue[])reconnected.Result[n]!, connections) is { } detail)
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
        var admissions = db.EvaluateEachAsync(DecisionScripts.AdmitSubscriber, [.. open.SelectMany(i => new[]
        {
            Admit(batch[i].Candidate!.CallBack, batch[i], now, reserve: true),
            Admit(batch[i].Candidate!.OtherParty, batch[i], now, reserve: false),
        })]);
        var released = Release(db, releases);
        await Task.WhenAll(admissions, released).ConfigureAwait(false);

        // Round 3: give back the places of candidates blocked by the other party, before their decisions are recorded.
        var creates = new List<(int Index, RecoveryRecord Recovery)>();
        for (var n = 0; n < open.Count; n++)
        {
            var i = open[n];
            var callBack = Verdict(admissions.Result[2 * n]);
            var other = Verdict(admissions.Result[(2 * n) + 1]);
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
        var created = Settle(db, [.. creates.Select(c => (batch[c.Index].Draft with { RecoveryId = c.Recovery.RecoveryId }, (RecoveryRecord?)c.Recovery))]);
        var recorded = Settle(db, [.. records.Select(r => (r.Draft, (RecoveryRecord?)null))]);
        await Task.WhenAll(created, recorded).ConfigureAwait(false);
        for (var n = 0; n < records.Count; n++)
        {
            settled[records[n].Index] = FromReply((RedisResult[])recorded.Result[n]!, batch[records[n].Index]);
        }

        records.Clear();
        for (var n = 0; n < creates.Count; n++)
        {
            var i = creates[n].Index;
            var reply = (RedisResult[])created.Result[n]!;
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
            var late = await Settle(db, [.. records.Select(r => (r.Draft, (RecoveryRecord?)null))]).ConfigureAwait(false);
            for (var n = 0; n < records.Count; n++)
            {
                settled[records[n].Index] = FromReply((RedisResult[])late[n]!, batch[records[n].Index]);
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
        var work = db.EvaluateEachAsync(DecisionScripts.ReleaseSubscriber, [.. releases.Select(r => new ScriptCall([_keys.SubscriberRecoveries(r.Number)], [r.CallId]))]);
        releases.Clear();
        return work;
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

    private Task<RedisResult[]> Settle(IDatabaseAsync db, IReadOnlyList<(DecisionRecord Draft, RecoveryRecord? Recovery)> decisions) =>
        db.EvaluateEachAsync(DecisionScripts.SettleCall, [.. decisions.Select(d => SettleCall(d.Draft, d.Recovery))]);

    private ScriptCall SettleCall(DecisionRecord draft, RecoveryRecord? recovery)
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

        return new ScriptCall([_keys.CallDecisions(draft.CallId), _keys.Recovery(draft.CallId)], [.. args]);
    }

    /// <summary>Both parties' call lists (the latest 100 or a few more), so an engineer can look a subscriber up; with round 1.</summary>
    private Task<RedisResult[]> IndexSubscribers(IDatabaseAsync db, IReadOnlyList<PendingDecision> batch) =>
        db.EvaluateEachAsync(DecisionScripts.IndexCall, [.. batch.Select(p => p.Drop).OfType<CallDrop>().SelectMany(drop =>
            new[] { drop.Caller, drop.Callee }.Where(PhoneNumbers.IsE164).Select(number =>
                new ScriptCall([_keys.SubscriberCalls(number)], [drop.CallId, drop.DropTime.ToUnixTimeMilliseconds(), _retentionMs])))]);

    private ScriptCall Admit(string number, PendingDecision pending, DateTimeOffset now, bool reserve) =>
        new([_keys.SubscriberRecoveries(number), _keys.OptOut(number), _keys.EmergencyProtection(number)],
            [pending.Draft.CallId, pending.Drop!.DropTime.ToUnixTimeMilliseconds(), (long)_policy.Window.TotalMilliseconds, _policy.MaxRecoveriesPerWindow,
                (long)_policy.CoolOff.TotalMilliseconds, reserve ? "1" : "0", now.ToUnixTimeMilliseconds()]);

    private Task<RedisResult[]> Protect(IDatabaseAsync db, IReadOnlyList<EmergencyCall> calls, DateTimeOffset now) =>
        db.EvaluateEachAsync(DecisionScripts.ProtectSubscriber, [.. calls
            .Select(call => (call.Number, Until: call.At.Add(_policy.EmergencyProtection)))
            .Where(call => call.Until > now && PhoneNumbers.IsE164(call.Number))
            .Select(call => new ScriptCall([_keys.EmergencyProtection(call.Number)], [call.Until.ToUnixTimeMilliseconds()]))]);

    private RecoveryRecord NewRecovery(PendingDecision pending)
    {
        var drop = pending.Drop!;
        var plan = pending.Plan!;
        return new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(drop.CallId),
            CallId = drop.CallId,
            State = plan.Hold.Length > 0 ? RecoveryState.Held : RecoveryState.Pending,
            Hold = plan.Hold,
            Incident = plan.Incident,
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
