using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// Every Redis key, built in one place. The part in braces is the Redis Cluster hash tag: all keys of one
/// call share a slot, all keys of one subscriber share a slot, so each Lua script touches one slot only.
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

    public RedisKey CallDecisions(string callId) => $"{prefix}:{{c:{callId}}}:decisions";

    public RedisKey Recovery(string callId) => $"{prefix}:{{c:{callId}}}:recovery";

    public RedisKey SubscriberRecoveries(string number) => $"{prefix}:{{s:{Subscriber(number)}}}:recoveries";

    public RedisKey OptOut(string number) => $"{prefix}:{{s:{Subscriber(number)}}}:optout";

    /// <summary>A subscriber's opt-out changes, newest first: who, when, from where.</summary>
    public RedisKey OptOutAudit(string number) => $"{prefix}:{{s:{Subscriber(number)}}}:optout-audit";

    public RedisKey EmergencyProtection(string number) => $"{prefix}:{{s:{Subscriber(number)}}}:emergency";

    /// <summary>A subscriber's dropped calls (call id scored by drop time), either party, for engineers' lookups.</summary>
    public RedisKey SubscriberCalls(string number) => $"{prefix}:{{s:{Subscriber(number)}}}:calls";

    /// <summary>A switch's commands waiting to be sent (call id scored by due time).</summary>
    public RedisKey SwitchDue(string switchId) => $"{prefix}:{{w:{switchId}}}:due";

    /// <summary>A switch's commands sent and not acknowledged (call id scored by acknowledgement deadline).</summary>
    public RedisKey SwitchInFlight(string switchId) => $"{prefix}:{{w:{switchId}}}:inflight";

    /// <summary>A switch's admission-rate token bucket (tokens, at), shared by every replica serving it.</summary>
    public RedisKey SwitchAdmission(string switchId) => $"{prefix}:{{w:{switchId}}}:admission";

    /// <summary>When a subscriber was last reachable (re-attached, re-registered), unix ms; kept as long as a callback could wait for it.</summary>
    public RedisKey SubscriberReachable(string number) => $"{prefix}:{{s:{Subscriber(number)}}}:reachable";

    /// <summary>An outage scope's recent drops (call id scored by drop time), for the sliding-window count.</summary>
    public RedisKey OutageDrops(string scope) => $"{prefix}:{{o:{scope}}}:drops";

    /// <summary>An outage scope's current incident (a hash: id, state, cell or node, start, count, end).</summary>
    public RedisKey OutageIncident(string scope) => $"{prefix}:{{o:{scope}}}:incident";

    /// <summary>The call ids an outage scope's current incident holds.</summary>
    public RedisKey OutageHeld(string scope) => $"{prefix}:{{o:{scope}}}:held";

    /// <summary>An ended incident of a scope, by its start (unix ms), kept for lookups.</summary>
    public RedisKey OutageArchive(string scope, long startMs) => $"{prefix}:{{o:{scope}}}:incident:{startMs}";

    /// <summary>The start (unix ms) of a scope's last ended incident, so that ending it again (a retried batch) finds it.</summary>
    public RedisKey OutageLastEnded(string scope) => $"{prefix}:{{o:{scope}}}:last-ended";

    /// <summary>Every incident id, scored by start (unix ms), for listing; and the ids of open ones.</summary>
    public RedisKey Incidents() => $"{prefix}:incidents";

    public RedisKey OpenIncidents() => $"{prefix}:incidents:open";

    /// <summary>A switch's undelivered commands by deadline.</summary>
    public RedisKey SwitchDeadlines(string switchId) => $"{prefix}:{{w:{switchId}}}:deadlines";

    /// <summary>Outcome updates of a switch's recoveries waiting for Kafka (a stream, in order), and who drains it now.</summary>
    public RedisKey Outbox(string switchId) => $"{prefix}:{{w:{switchId}}}:outbox";

    public RedisKey OutboxLease(string switchId) => $"{prefix}:{{w:{switchId}}}:outbox-lease";

    /// <summary>The switch ids that have had work, so every replica can sweep them, connected or not.</summary>
    public RedisKey Switches() => $"{prefix}:switches";

    /// <summary>Pub/sub: "switch id|due time (ms)" when a replica queues commands, so the replica serving that switch wakes then.</summary>
    public RedisChannel DueChannel() => RedisChannel.Literal($"{prefix}:due");

    /// <summary>Recoveries between two parties (either direction), so a redial between them can cancel.</summary>
    public RedisKey PartyPair(string a, string b) => $"{prefix}:{{p:{Pair(a, b)}}}:recoveries";

    /// <summary>Calls in which two parties reached each other (call id scored by answer time), either direction, kept until callbacks between them are past their deadline.</summary>
    public RedisKey PartyPairConnections(string a, string b) => $"{prefix}:{{p:{Pair(a, b)}}}:connected";

    private string Pair(string a, string b)
    {
        var (x, y) = (Subscriber(a), Subscriber(b));
        return string.CompareOrdinal(x, y) <= 0 ? $"{x}|{y}" : $"{y}|{x}";
    }

    /// <summary>How a subscriber appears in key names: the number, or its keyed hash when a secret is configured.</summary>
    private string Subscriber(string number)
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
