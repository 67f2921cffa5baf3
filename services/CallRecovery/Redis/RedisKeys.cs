using System.Globalization;
using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// How keys are made: the prefix, the Redis Cluster hash tag in braces, and how a subscriber appears in a key. Each
/// folder builds its own keys with this (<c>RecoveryKeys</c>, <c>SubscriberKeys</c>, ...) and is the only one to use
/// them: a folder's data is read and written through that folder's code. All keys of one call share a slot
/// (<c>{c:callId}</c>), all keys of one subscriber (<c>{s:...}</c>), of one party pair (<c>{p:...}</c>), of one
/// switch (<c>{w:...}</c>) and of one outage scope (<c>{o:...}</c>), so each Lua script touches one slot only; what
/// many subscribers share is spread over shards, each a slot of its own (the call index: <c>{i:0}</c> to <c>{i:15}</c>).
/// </summary>
/// <remarks>
/// With a subscriber key secret, a subscriber's keys carry a keyed hash of the number (HMAC-SHA256, 128 bits,
/// base64url) instead of the number: the same number always finds the same keys, and the keys name no one.
/// </remarks>
public sealed class RedisKeys(string prefix, string? subscriberKeySecret = null)
{
    private readonly byte[]? _secret = string.IsNullOrEmpty(subscriberKeySecret) ? null : System.Text.Encoding.UTF8.GetBytes(subscriberKeySecret);

    /// <summary>The keys of this configuration.</summary>
    public static RedisKeys For(RedisOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new RedisKeys(options.KeyPrefix, options.SubscriberKeySecret);
    }

    public string Prefix => prefix;

    /// <summary>A call's key: <c>prefix:{c:callId}:name</c>.</summary>
    public RedisKey Call(string callId, string name) => $"{prefix}:{{c:{callId}}}:{name}";

    /// <summary>A subscriber's key: <c>prefix:{s:number or its keyed hash}:name</c>.</summary>
    public RedisKey Subscriber(string number, string name) => $"{prefix}:{{s:{SubscriberName(number)}}}:{name}";

    /// <summary>A pair of parties' key (either direction): <c>prefix:{p:a|b}:name</c>.</summary>
    public RedisKey Pair(string a, string b, string name) => $"{prefix}:{{p:{PairName(a, b)}}}:{name}";

    /// <summary>A switch's key: <c>prefix:{w:switchId}:name</c>.</summary>
    public RedisKey Switch(string switchId, string name) => $"{prefix}:{{w:{switchId}}}:{name}";

    /// <summary>An outage scope's key: <c>prefix:{o:scope}:name</c>.</summary>
    public RedisKey Scope(string scope, string name) => $"{prefix}:{{o:{scope}}}:{name}";

    /// <summary>
    /// One of a number of keys that many subscribers (or calls) share, on a hash slot of its own: <c>prefix:{kind:shard}:name</c>.
    /// </summary>
    public RedisKey Shard(string kind, int shard, string name) => $"{prefix}:{{{kind}:{shard.ToString(CultureInfo.InvariantCulture)}}}:{name}";

    /// <summary>A key of the whole deployment (no hash tag): <c>prefix:name</c>.</summary>
    public RedisKey Global(string name) => $"{prefix}:{name}";

    public RedisChannel Channel(string name) => RedisChannel.Literal($"{prefix}:{name}");

    private string PairName(string a, string b)
    {
        var (x, y) = (SubscriberName(a), SubscriberName(b));
        return string.CompareOrdinal(x, y) <= 0 ? $"{x}|{y}" : $"{y}|{x}";
    }

    /// <summary>
    /// How a subscriber appears in key names (and in the members of keys subscribers share): the number, or its keyed
    /// hash when a secret is configured. Either way without '|' and of the characters E.164 and Base64Url allow.
    /// </summary>
    public string SubscriberName(string number)
    {
        if (_secret is null)
        {
            return number;
        }

        Span<byte> mac = stackalloc byte[32];
        System.Security.Cryptography.HMACSHA256.HashData(_secret, System.Text.Encoding.UTF8.GetBytes(number), mac);
        return "h" + System.Buffers.Text.Base64Url.EncodeToString(mac[..16]);
    }
}
