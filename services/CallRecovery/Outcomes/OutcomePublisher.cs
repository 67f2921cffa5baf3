using CallRecovery.Contracts.V1;
using CallRecovery.Kafka;
using CallRecovery.Observability;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.Outcomes;

/// <summary>
/// Records what became of each recovery in its switch's outbox in Redis (a stream, in order), from which
/// <see cref="OutboxDrain"/> publishes it to the outcome topic, keyed by recovery id so one recovery's updates stay
/// in order on one partition. Callers confirm a report to the switch, or finish an expiry, once the update is in the
/// outbox: durable, and independent of Kafka being reachable. A Kafka outage delays outcome events; it never
/// stalls acknowledgements, dispatch or expiry.
/// </summary>
public sealed class OutcomePublisher(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<KafkaOptions> options, TimeProvider time)
{
    public const string KeyField = "key";
    public const string ValueField = "value";
    public const string TraceParentField = "traceparent";

    /// <summary>What an outbox entry is, when it is not an outcome update: its topic follows (see <see cref="OutboxDrain"/>).</summary>
    public const string KindField = "kind";

    /// <summary>The kind of a compensation (published to <c>Kafka:CompensationTopic</c>).</summary>
    public const string CompensationKind = "compensation";

    /// <summary>The kind of an update of a recovery run in shadow (published to <c>Kafka:ShadowOutcomeTopic</c>).</summary>
    public const string ShadowKind = "shadow";

    private static readonly RedisScript PublishOnce = LuaResources.Load("publish_once.lua");

    private readonly OutboxKeys _keys = OutboxKeys.For(redisOptions.Value);

    // Entries written once (compensations) for recoveries ending together go as many-runs, not one EVALSHA each.
    private readonly ScriptBatcher _once = new(() => redis.GetDatabase(), PublishOnce);
    private readonly string _topic = options.Value.OutcomeTopic;
    private readonly TimeSpan _retention = redisOptions.Value.Retention;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _listed = new(StringComparer.Ordinal);

    public Task PublishStageAsync(RecoveryRecord recovery, Stage stage, DateTimeOffset at)
    {
        var update = Update(recovery, at);
        update.Stage = stage;
        return PublishAsync(recovery, update);
    }

    public Task PublishOutcomeAsync(RecoveryRecord recovery, Outcome outcome)
    {
        var update = Update(recovery, recovery.CompletedAt ?? time.GetUtcNow());
        update.Outcome = outcome;
        update.Detail = recovery.Detail;
        update.SurveyScore = (uint)recovery.SurveyScore;
        update.ReconnectCallId = recovery.ReconnectCallId;
        if (recovery.TalkTime is { } talk)
        {
            update.TalkTime = Duration.FromTimeSpan(talk);
        }

        return PublishAsync(recovery, update);
    }

    /// <summary>A callback's outcome that is not the recovery's last: another callback follows at <see cref="RecoveryRecord.DueAt"/>.</summary>
    public Task PublishRetriedAsync(RecoveryRecord recovery, CallbackAttemptOutcome ended, Outcome outcome)
    {
        var update = Update(recovery, ended.At);
        update.CallbackAttempt = (uint)ended.Number;
        update.Outcome = outcome;
        update.Detail = ended.Detail.Length > 0 ? $"{ended.Detail}; callback {recovery.CallbackAttempt} follows" : $"callback {recovery.CallbackAttempt} follows";
        update.NextAttemptAt = Timestamp.FromDateTimeOffset(recovery.DueAt);
        return PublishAsync(recovery, update);
    }

    /// <summary>The callback was put off (quiet hours): it goes at <see cref="RecoveryRecord.DueAt"/>.</summary>
    public Task PublishDeferredAsync(RecoveryRecord recovery)
    {
        var update = Update(recovery, recovery.DeferredAt ?? time.GetUtcNow());
        update.Deferral = new Deferral { Reason = recovery.Deferral };
        update.Detail = recovery.Deferral;
        update.NextAttemptAt = Timestamp.FromDateTimeOffset(recovery.DueAt);
        return PublishAsync(recovery, update);
    }

    /// <summary>
    /// Writes an entry of <paramref name="kind"/> to the recovery's switch's outbox once under <paramref name="name"/>
    /// (marker and entry in one script): true when written now, false when it was written before.
    /// </summary>
    public async Task<bool> PublishOnceAsync(RecoveryRecord recovery, string kind, string name, byte[] value, string traceParent)
    {
        ArgumentNullException.ThrowIfNull(recovery);
        return (long)await _once.EvaluateAsync([_keys.Once(recovery.SwitchId, name), _keys.Outbox(recovery.SwitchId)],
        [
            (long)_retention.TotalMilliseconds, value,
            KeyField, recovery.RecoveryId,
            ValueField, value,
            TraceParentField, traceParent,
            KindField, kind,
        ]).ConfigureAwait(false) == 1;
    }

    /// <summary>The value of an entry written once under <paramref name="name"/> (null when none was).</summary>
    public async Task<byte[]?> ReadOnceAsync(string switchId, string name) =>
        (byte[]?)await redis.GetDatabase().StringGetAsync(_keys.Once(switchId, name)).ConfigureAwait(false);

    private async Task PublishAsync(RecoveryRecord recovery, RecoveryUpdate update)
    {
        using var span = RecoveryTracing.StartPublish(_topic, recovery.TraceParent, recovery.RecoveryId, recovery.CallId);
        var traceParent = span?.Id ?? recovery.TraceParent;
        var db = redis.GetDatabase();
        var added = db.StreamAddAsync(_keys.Outbox(recovery.SwitchId),
        [
            new NameValueEntry(KeyField, recovery.RecoveryId),
            new NameValueEntry(ValueField, update.ToByteArray()),
            new NameValueEntry(TraceParentField, traceParent),
            // A shadow recovery's updates are drained to their own topic.
            .. recovery.Shadow ? [new NameValueEntry(KindField, ShadowKind)] : Array.Empty<NameValueEntry>(),
        ]);
        // The drain finds the outboxes through this set: written for a switch once a minute by each replica (a Redis
        // that lost it lost the outbox too), not on every update. Both expire a retention after a switch last had an
        // update (the outbox's length is bounded by backpressure meanwhile: Kafka:MaxOutboxLength).
        var now = time.GetTimestamp();
        if (!_listed.TryGetValue(recovery.SwitchId, out var listedAt) || time.GetElapsedTime(listedAt, now) > TimeSpan.FromMinutes(1))
        {
            _listed[recovery.SwitchId] = now;
            await added.ConfigureAwait(false);
            await Task.WhenAll(
                db.SetAddAsync(_keys.Outboxes(), recovery.SwitchId),
                db.KeyExpireAsync(_keys.Outboxes(), _retention),
                db.KeyExpireAsync(_keys.Outbox(recovery.SwitchId), _retention)).ConfigureAwait(false);
        }

        await added.ConfigureAwait(false);
    }

    private static RecoveryUpdate Update(RecoveryRecord recovery, DateTimeOffset at) => new()
    {
        RecoveryId = recovery.RecoveryId,
        CallId = recovery.CallId,
        SwitchId = recovery.SwitchId,
        Customer = recovery.CallBack,
        OtherParty = recovery.OtherParty,
        DropTime = Timestamp.FromDateTimeOffset(recovery.DropTime),
        At = Timestamp.FromDateTimeOffset(at),
        ChargingReference = recovery.RecoveryId,
        Attempts = (uint)recovery.Attempts,
        CallbackAttempt = (uint)recovery.CallbackAttempt,
        IncidentId = recovery.Incident,
        Shadow = recovery.Shadow,
    };
}
