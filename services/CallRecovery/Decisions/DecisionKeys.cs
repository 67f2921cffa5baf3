using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Decisions;

/// <summary>The decision stage's keys: each call's decisions, and each subscriber's window of recoveries (their limits).</summary>
public sealed class DecisionKeys(RedisKeys keys)
{
    public static DecisionKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>A call's decisions: report (event id) to its decision, as JSON.</summary>
    public RedisKey CallDecisions(string callId) => keys.Call(callId, "decisions");

    /// <summary>A subscriber's recent recoveries as callback party (call id scored by drop time): their limit per window and cool-off.</summary>
    public RedisKey SubscriberWindow(string number) => keys.Subscriber(number, "recoveries");
}
