using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Amends;

/// <summary>The compensation stage's keys: a customer's credits of a day (the compensation itself is written once to the outbox).</summary>
public sealed class CompensationKeys(RedisKeys keys)
{
    public static CompensationKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>A customer's credits of one local day (yyyy-MM-dd): which recoveries were credited, and how many.</summary>
    public RedisKey Credits(string number, string day) => keys.Subscriber(number, "credits:" + day);
}
