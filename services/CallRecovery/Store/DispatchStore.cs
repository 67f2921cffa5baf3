using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Store;

/// <summary>A recovery to put in its switch's queue.</summary>
public sealed record ScheduledRecovery(string CallId, string SwitchId, DateTimeOffset DueAt, DateTimeOffset Deadline, string CallBack, string OtherParty);

/// <summary>The answer of a script that works on one recovery: its verdict, and the recovery as it now stands (when the script returned it).</summary>
public sealed record RecoveryChange(string Verdict, RecoveryRecord? Recovery);

/// <summary>
/// Recovery delivery state in Redis. Per switch (slot {w:id}): a due set, an in-flight set and deadlines.
/// Per recovery (slot {c:callId}): the recovery hash that the scripts advance. Every script works on one
/// slot; every step is idempotent, so any replica may run any of them, and a crash between two steps is
/// mended by the acknowledgement timeout or the deadline sweep.
/// </summary>
public sealed class DispatchStore(IConnectionMultiplexer redis, IOptions<RedisOptions> options)
{
    private readonly RedisKeys _keys = new(options.Value.KeyPrefix);
    private readonly long _ttlMs = (long)options.Value.Retention.TotalMilliseconds;

    private IDatabase Db => redis.GetDatabase();

    public async Task ScheduleAsync(IReadOnlyList<ScheduledRecovery> recoveries)
    {
        if (recoveries.Count == 0)
        {
            return;
        }

        var db = Db;
        var work = new List<Task>(recoveries.Count * 2 + 2);
        foreach (var r in recoveries)
        {
            work.Add(db.ScriptEvaluateAsync(LuaScripts.EnqueueRecovery, SwitchKeys(r.SwitchId), [r.CallId, r.DueAt.ToUnixTimeMilliseconds(), r.Deadline.ToUnixTimeMilliseconds(), _ttlMs]));
            var pair = _keys.PartyPair(r.CallBack, r.OtherParty);
            work.Add(db.SetAddAsync(pair, r.CallId));
            work.Add(db.KeyExpireAsync(pair, r.Deadline - DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1)));
        }

        work.Add(db.SetAddAsync(_keys.Switches(), [.. recoveries.Select(r => (RedisValue)r.SwitchId).Distinct()]));
        work.Add(db.KeyExpireAsync(_keys.Switches(), TimeSpan.FromMilliseconds(_ttlMs)));
        await Task.WhenAll(work).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> ClaimDueAsync(string switchId, int count, DateTimeOffset now, DateTimeOffset acknowledgementDeadline)
    {
        var result = await Db.ScriptEvaluateAsync(LuaScripts.ClaimDue, [_keys.SwitchDue(switchId), _keys.SwitchInFlight(switchId)],
            [now.ToUnixTimeMilliseconds(), count, acknowledgementDeadline.ToUnixTimeMilliseconds(), _ttlMs]).ConfigureAwait(false);
        return [.. ((RedisResult[])result!).Select(r => (string)r!)];
    }

    /// <summary>Marks the recovery as sent (counting the attempt); null when it needs no delivery any more.</summary>
    public async Task<RecoveryRecord?> DispatchAsync(string callId, string switchId, string connectionId, DateTimeOffset now)
    {
        var reply = await Run(LuaScripts.DispatchRecovery, callId, now.ToUnixTimeMilliseconds(), switchId, connectionId).ConfigureAwait(false);
        return reply.Verdict == "send" ? reply.Recovery : null;
    }

    /// <summary>Records an acknowledgement; returns the verdict and the recovery's trace context.</summary>
    public async Task<(string Verdict, string TraceParent)> AcknowledgeAsync(string callId, string switchId, uint attempt, bool accepted, string detail, DateTimeOffset now)
    {
        var reply = (RedisResult[])(await Db.ScriptEvaluateAsync(LuaScripts.AcknowledgeRecovery, [_keys.Recovery(callId)],
            [switchId, attempt, accepted ? "1" : "0", detail, now.ToUnixTimeMilliseconds()]).ConfigureAwait(false))!;
        return ((string)reply[0]!, (string?)reply[2] ?? string.Empty);
    }

    public Task<RecoveryChange> ReportProgressAsync(string callId, string switchId, string stage, DateTimeOffset at) =>
        Run(LuaScripts.ReportProgress, callId, switchId, stage, at.ToUnixTimeMilliseconds());

    public Task<RecoveryChange> RecordOutcomeAsync(string callId, string switchId, string outcome, DateTimeOffset at, TimeSpan talkTime, string failureCause, uint surveyScore, string reconnectCallId) =>
        Run(LuaScripts.RecordOutcome, callId, switchId, outcome, at.ToUnixTimeMilliseconds(), (long)talkTime.TotalMilliseconds, failureCause, surveyScore, reconnectCallId);

    public Task<RecoveryChange> ExpireAsync(string callId, DateTimeOffset now) =>
        Run(LuaScripts.EndRecovery, callId, nameof(RecoveryState.Expired), now.ToUnixTimeMilliseconds(), string.Empty);

    public Task<RecoveryChange> CancelAsync(string callId, DateTimeOffset now, string connectedCallId, DateTimeOffset connectedAt) =>
        Run(LuaScripts.EndRecovery, callId, nameof(RecoveryState.Cancelled), now.ToUnixTimeMilliseconds(),
            "the parties reached each other before the callback", connectedCallId, connectedAt.ToUnixTimeMilliseconds());

    public Task RequeueAsync(string switchId, IReadOnlyCollection<string> callIds, DateTimeOffset dueAt) =>
        callIds.Count == 0
            ? Task.CompletedTask
            : Db.ScriptEvaluateAsync(LuaScripts.Requeue, [_keys.SwitchDue(switchId), _keys.SwitchInFlight(switchId)],
                [dueAt.ToUnixTimeMilliseconds(), .. callIds.Select(c => (RedisValue)c)]);

    /// <summary>Removes commands that need no more delivery from the switch's queue.</summary>
    public Task SettleEntriesAsync(string switchId, params string[] callIds) =>
        callIds.Length == 0
            ? Task.CompletedTask
            : Db.ScriptEvaluateAsync(LuaScripts.SettleEntries, SwitchKeys(switchId), [.. callIds.Select(c => (RedisValue)c)]);

    /// <summary>Moves overdue acknowledgements back to due, and leases commands past their deadline for expiry.</summary>
    public async Task<(IReadOnlyList<string> Overdue, IReadOnlyList<string> Expiring)> SweepAsync(string switchId, DateTimeOffset now, TimeSpan lease, int most)
    {
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(LuaScripts.SweepSwitch, SwitchKeys(switchId),
            [now.ToUnixTimeMilliseconds(), (now + lease).ToUnixTimeMilliseconds(), most]).ConfigureAwait(false))!;
        return ([.. ((RedisResult[])result[0]!).Select(r => (string)r!)], [.. ((RedisResult[])result[1]!).Select(r => (string)r!)]);
    }

    public async Task<IReadOnlyList<string>> SwitchesWithWorkAsync() =>
        [.. (await Db.SetMembersAsync(_keys.Switches()).ConfigureAwait(false)).Select(v => v.ToString())];

    public async Task<IReadOnlyList<string>> RecoveriesBetweenAsync(string a, string b) =>
        [.. (await Db.SetMembersAsync(_keys.PartyPair(a, b)).ConfigureAwait(false)).Select(v => v.ToString())];

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

    private async Task<RecoveryChange> Run(string script, string callId, params RedisValue[] args)
    {
        var reply = (RedisResult[])(await Db.ScriptEvaluateAsync(script, [_keys.Recovery(callId)], args).ConfigureAwait(false))!;
        var verdict = (string)reply[0]!;
        if (reply.Length <= 2)
        {
            return new RecoveryChange(verdict, null);
        }

        return new RecoveryChange(verdict, RecoveryRecord.FromFlatList([.. reply.Skip(1).Select(r => r.ToString() ?? string.Empty)]));
    }
}
