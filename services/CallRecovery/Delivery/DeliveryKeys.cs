using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Delivery;

/// <summary>The delivery stage's keys: each switch's queue and cancels, and the switches that have work.</summary>
public sealed class DeliveryKeys(RedisKeys keys)
{
    public static DeliveryKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>A switch's commands waiting to be sent (call id scored by due time).</summary>
    public RedisKey Due(string switchId) => keys.Switch(switchId, "due");

    /// <summary>A switch's vulnerable customers' commands waiting to be sent (call id scored by due time): claimed before any in <see cref="Due"/>.</summary>
    public RedisKey PriorityDue(string switchId) => keys.Switch(switchId, "due:priority");

    /// <summary>The call ids of a switch's vulnerable customers' commands, queued or out, so one given back is queued first again.</summary>
    public RedisKey PriorityCalls(string switchId) => keys.Switch(switchId, "priority");

    /// <summary>A switch's commands sent and not acknowledged (call id scored by acknowledgement deadline).</summary>
    public RedisKey InFlight(string switchId) => keys.Switch(switchId, "inflight");

    /// <summary>A switch's commands not yet accepted, by deadline (held ones too).</summary>
    public RedisKey Deadlines(string switchId) => keys.Switch(switchId, "deadlines");

    /// <summary>A switch's accepted callbacks awaiting their outcome (call id scored by when the switch's silence ends them).</summary>
    public RedisKey Supervised(string switchId) => keys.Switch(switchId, "supervised");

    /// <summary>A switch's admission-rate token bucket (tokens, at), shared by every replica serving it.</summary>
    public RedisKey Admission(string switchId) => keys.Switch(switchId, "admission");

    /// <summary>Cancels for a switch (a stream), read by every replica holding a stream of that switch.</summary>
    public RedisKey Cancels(string switchId) => keys.Switch(switchId, "cancels");

    /// <summary>The switch ids that have had work, so every replica sweeps them, connected or not.</summary>
    public RedisKey Switches() => keys.Global("switches");

    /// <summary>Pub/sub: "switch id|due time (ms)" when a replica queues commands, so the replica serving that switch wakes then.</summary>
    public RedisChannel DueChannel() => keys.Channel("due");

    /// <summary>Pub/sub: a switch id when a cancel for it was added to its cancels stream.</summary>
    public RedisChannel CancelChannel() => keys.Channel("cancels");

    /// <summary>The kill switch (hash: paused, reason, by, since); one slot with its changes.</summary>
    public RedisKey Pause() => keys.Global("{rollout}:pause");

    /// <summary>The kill switch's changes, newest first (JSON each).</summary>
    public RedisKey PauseChanges() => keys.Global("{rollout}:pause:changes");

    /// <summary>Pub/sub: "paused" or "resumed" when the kill switch changes.</summary>
    public RedisChannel PauseChannel() => keys.Channel("rollout");
}
