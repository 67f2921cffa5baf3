using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Decisions;

/// <summary>The decision stage's keys: each call's decisions, and each subscriber's window of recoveries (their limits).</summary>
public sealed class DecisionKeys(RedisKeys keys)
{
    public static DecisionKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>A call's decisions: report (event id) to its decision, as JSON.</summary>
    public RedisKey CallDecisions(string callId) => keys.Call(callId, "decisions");

    /// <summary>
    /// The field of a call's decisions that keeps a report's invalid note once a redrive of its dead letter decided the
    /// report for real: the lookup still shows that (and why) it was dead-lettered first.
    /// </summary>
    public static string DeadLetteredNote(string eventId) => "dead-lettered:" + eventId;

    /// <summary>A subscriber's recent recoveries as callback party (call id scored by drop time): their limit per window and cool-off.</summary>
    public RedisKey SubscriberWindow(string number) => keys.Subscriber(number, "recoveries");
}
