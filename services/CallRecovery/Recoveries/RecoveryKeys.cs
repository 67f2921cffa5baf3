using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Recoveries;

/// <summary>The recoveries' keys: each recovery's record, and where the recoveries are filed for cancels and releases.</summary>
public sealed class RecoveryKeys(RedisKeys keys)
{
    public static RecoveryKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>A call's recovery: a hash moved only through the door (<see cref="RecoveryMoves"/>).</summary>
    public RedisKey Recovery(string callId) => keys.Call(callId, "recovery");

    /// <summary>A subscriber's recoveries, as either party (call id scored by deadline), so an opt-out, emergency call, re-attach or redial finds every one, however many calls the subscriber made since.</summary>
    public RedisKey PartyRecoveries(string number) => keys.Subscriber(number, "open-recoveries");
}
