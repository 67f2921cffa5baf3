using Microsoft.Extensions.Options;
using StackExchange.Redis;
using CallRecovery.Policy;
using CallRecovery.Redis;

namespace CallRecovery.Decisions;

/// <summary>The decision as Redis holds it. <see cref="IsNew"/> is false when a replay found it already decided.</summary>
public sealed record SettledDecision(DecisionRecord Record, bool IsNew, PendingDecision Pending);

/// <summary>A decision about to be made durable: the draft record, and for a candidate its classification, event and plan.</summary>
public sealed record PendingDecision(DecisionRecord Draft, Classification? Candidate = null, CallDrop? Drop = null, RecoveryPlan? Plan = null);

/// <summary>
/// The decision stage's data in Redis: each call's decisions (one per report, slot <c>{c:callId}</c>) and each
/// subscriber's window of recoveries (their limits, slot <c>{s:...}</c>). Every step works on a batch as one run of
/// its script (one per hash slot on a cluster) and is idempotent per event id and call id.
/// </summary>
public sealed class DecisionStore([FromKeyedServices(RedisServiceCollectionExtensions.Decisions)] IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<RecoveryPolicyOptions> policy)
{
    private static readonly RedisScript SettleCall = LuaResources.Load("settle_call.lua");
    private static readonly RedisScript AdmitSubscriber = LuaResources.Load("admit_subscriber.lua");
    private static readonly RedisScript ReleaseSubscriber = LuaResources.Load("release_subscriber.lua");

    private readonly DecisionKeys _keys = DecisionKeys.For(redisOptions.Value);
    private readonly long _retentionMs = (long)redisOptions.Value.Retention.TotalMilliseconds;
    private readonly RecoveryPolicyOptions _policy = policy.Value;

    /// <summary>The decision already recorded for each report (a replay), or null. An invalid note is returned too: the caller decides what it means.</summary>
    public async Task<IReadOnlyList<DecisionRecord?>> RecordedAsync(IReadOnlyList<DecisionRecord> drafts)
    {
        var db = redis.GetDatabase();
        var reads = drafts.Select(d => db.HashGetAsync(_keys.CallDecisions(d.CallId), d.EventId)).ToArray();
        await Task.WhenAll(reads).ConfigureAwait(false);
        return [.. reads.Select(r => r.Result.IsNull ? null : DecisionRecord.FromJson(r.Result.ToString()))];
    }

    /// <summary>
    /// Records decisions, once each: returns what is recorded (the first decision of a report wins) and whether it was
    /// recorded now. An invalid note is not a decision that wins: a redriven dead letter's real decision takes its
    /// place (the note is kept under <see cref="DecisionKeys.DeadLetteredNote"/>), and only once.
    /// </summary>
    public async Task<IReadOnlyList<(DecisionRecord Record, bool IsNew)>> RecordAsync(IReadOnlyList<DecisionRecord> decisions)
    {
        var invalid = DecisionReason.Invalid.ToWireName();
        var replies = await redis.GetDatabase().EvaluateEachAsync(SettleCall, [.. decisions.Select(d =>
            new ScriptCall([_keys.CallDecisions(d.CallId)], [d.EventId, d.ToJsonUtf8(), _retentionMs, DecisionRecord.ReasonProperty,
                d.Reason == DecisionReason.Invalid ? string.Empty : invalid, DecisionKeys.DeadLetteredNote(d.EventId)]))]).ConfigureAwait(false);
        // Recorded now: the decision as made (not read back from its JSON); a replay: the first decision, as recorded.
        return [.. replies.Select((r, i) => (RedisResult[])r! is { } reply && (string?)reply[0] == "replay" ? (DecisionRecord.FromJson((string)reply[1]!), false) : (decisions[i], true))];
    }

    /// <summary>
    /// May each subscriber be called back for the drop (their window and cool-off)? Reserves a place for the call if
    /// so: idempotent per call id. Returns the verdict (accepted or rate limited) and its detail.
    /// </summary>
    public async Task<IReadOnlyList<(DecisionReason Reason, string Detail)>> AdmitAsync(IReadOnlyList<(string Number, string CallId, DateTimeOffset DropTime)> admissions, DateTimeOffset now)
    {
        var replies = await redis.GetDatabase().EvaluateEachAsync(AdmitSubscriber, [.. admissions.Select(a => new ScriptCall([_keys.SubscriberWindow(a.Number)],
            [a.CallId, a.DropTime.ToUnixTimeMilliseconds(), (long)_policy.Window.TotalMilliseconds, _policy.MaxRecoveriesPerWindow, (long)_policy.CoolOff.TotalMilliseconds, now.ToUnixTimeMilliseconds()]))]).ConfigureAwait(false);
        return [.. replies.Select(r => (RedisResult[])r!).Select(r => ((string?)r[0] switch
        {
            "admitted" => DecisionReason.Accepted,
            "rate_limited" => DecisionReason.RateLimited,
            var other => throw new InvalidOperationException($"Unexpected admission verdict '{other}'."),
        }, (string?)r[1] ?? string.Empty))];
    }

    /// <summary>Gives back window places reserved for calls that did not become that subscriber's recovery.</summary>
    public Task ReleaseAsync(IReadOnlyList<(string Number, string CallId)> places) =>
        places.Count == 0 ? Task.CompletedTask : redis.GetDatabase().EvaluateEachAsync(ReleaseSubscriber, [.. places.Select(r => new ScriptCall([_keys.SubscriberWindow(r.Number)], [r.CallId]))]);

    /// <summary>A call's decisions, in the order they were made.</summary>
    public async Task<IReadOnlyList<DecisionRecord>> DecisionsOfAsync(string callId) =>
        [.. (await redis.GetDatabase().HashValuesAsync(_keys.CallDecisions(callId)).ConfigureAwait(false)).Select(v => DecisionRecord.FromJson(v.ToString()))
            .OrderBy(d => d.DecidedAt).ThenBy(d => d.EventId, StringComparer.Ordinal)];

    /// <summary>Whether a place in the subscriber's window is held for the call (tests and lookups).</summary>
    public async Task<bool> HoldsPlaceAsync(string number, string callId) =>
        await redis.GetDatabase().SortedSetScoreAsync(_keys.SubscriberWindow(number), callId).ConfigureAwait(false) is not null;
}
