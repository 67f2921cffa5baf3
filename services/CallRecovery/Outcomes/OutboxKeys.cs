using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Outcomes;

/// <summary>The outcome stage's keys: each switch's outbox of updates waiting for Kafka, who drains it, and which outboxes there are.</summary>
public sealed class OutboxKeys(RedisKeys keys)
{
    public static OutboxKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>Outcome updates of a switch's recoveries waiting for Kafka (a stream, in order).</summary>
    public RedisKey Outbox(string switchId) => keys.Switch(switchId, "outbox");

    /// <summary>An entry written to a switch's outbox once (see <see cref="OutcomePublisher.PublishOnceAsync"/>): its marker, holding its value.</summary>
    public RedisKey Once(string switchId, string name) => keys.Switch(switchId, "once:" + name);

    /// <summary>Which replica drains a switch's outbox now.</summary>
    public RedisKey OutboxLease(string switchId) => keys.Switch(switchId, "outbox-lease");

    /// <summary>The switches with an outbox, so the drain finds them all.</summary>
    public RedisKey Outboxes() => keys.Global("outboxes");
}
