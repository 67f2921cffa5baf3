using System.Globalization;
using System.IO.Hashing;
using System.Text;
using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Subscribers;

/// <summary>The subscribers' keys: what we know about a person, and about two people reaching each other.</summary>
public sealed class SubscriberKeys(RedisKeys keys)
{
    public static SubscriberKeys For(RedisOptions options) => new(RedisKeys.For(options));

    public RedisKey OptOut(string number) => keys.Subscriber(number, "optout");

    /// <summary>A subscriber's opt-out changes, newest first: who, when, from where.</summary>
    public RedisKey OptOutAudit(string number) => keys.Subscriber(number, "optout-audit");

    /// <summary>A subscriber's emergency calls: call id to the end of the protection it gives (unix ms).</summary>
    public RedisKey EmergencyProtection(string number) => keys.Subscriber(number, "emergency");

    /// <summary>Until when a customer asked for no callbacks (unix ms), kept until then.</summary>
    public RedisKey NotNow(string number) => keys.Subscriber(number, "not-now");

    /// <summary>A customer flagged vulnerable by CRM (who, when, until), kept until the flag ends.</summary>
    public RedisKey Vulnerable(string number) => keys.Subscriber(number, "vulnerable");

    /// <summary>When a subscriber was last reachable (re-attached, re-registered), unix ms; kept as long as a callback could wait for it.</summary>
    public RedisKey Reachable(string number) => keys.Subscriber(number, "reachable");

    /// <summary>How many keys a day's index of dropped calls is spread over (by subscriber): changing it moves every subscriber's calls.</summary>
    public const int CallIndexShards = 16;

    /// <summary>
    /// A subscriber's dropped calls (call id scored by drop time), either party, for engineers' lookups: written until
    /// 2026-12-07, read until the retention has passed since (the shared <see cref="CallIndex"/> replaced it).
    /// </summary>
    public RedisKey Calls(string number) => keys.Subscriber(number, "calls");

    /// <summary>How <paramref name="number"/> appears in keys and in the call index's members.</summary>
    public string Name(string number) => keys.SubscriberName(number);

    /// <summary>
    /// One day's (UTC, by drop time) dropped calls of the subscribers in one of <see cref="CallIndexShards"/> shards, either
    /// party, for engineers' lookups (slot <c>{i:shard}</c>): members <see cref="CallIndexEntry"/>, all scored 0, so a
    /// subscriber's calls are one range of the set by value, the newest last. Shared by many subscribers, so a batch
    /// of drops writes each such key once (a set per subscriber cost two commands per party and drop).
    /// </summary>
    public RedisKey CallIndex(string name, DateOnly day) =>
        keys.Shard("i", (int)(XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(name)) % CallIndexShards), "calls:" + day.ToString("yyyyMMdd", CultureInfo.InvariantCulture));

    /// <summary>A call in the <see cref="CallIndex"/>: <c>name|drop time (unix ms, 13 digits)|call id</c>.</summary>
    public static string CallIndexEntry(string name, string callId, DateTimeOffset dropTime) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}|{dropTime.ToUnixTimeMilliseconds():D13}|{callId}");

    /// <summary>Calls in which two parties reached each other (call id scored by answer time), either direction, kept until callbacks between them are past their deadline.</summary>
    public RedisKey PairConnections(string a, string b) => keys.Pair(a, b, "connected");
}
