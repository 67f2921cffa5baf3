using StackExchange.Redis;

namespace CallRecovery.Store;

/// <summary>
/// Every Redis key, built in one place. The part in braces is the Redis Cluster hash tag: all keys of one
/// call share a slot, all keys of one subscriber share a slot, so each Lua script touches one slot only.
/// </summary>
public sealed class RedisKeys(string prefix)
{
    public RedisKey CallDecisions(string callId) => $"{prefix}:{{c:{callId}}}:decisions";

    public RedisKey Recovery(string callId) => $"{prefix}:{{c:{callId}}}:recovery";

    public RedisKey SubscriberRecoveries(string number) => $"{prefix}:{{s:{number}}}:recoveries";

    public RedisKey OptOut(string number) => $"{prefix}:{{s:{number}}}:optout";

    public RedisKey EmergencyProtection(string number) => $"{prefix}:{{s:{number}}}:emergency";
}
