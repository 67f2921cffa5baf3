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

    /// <summary>A subscriber's dropped calls (call id scored by drop time), either party, for engineers' lookups: the latest 100 or so.</summary>
    public RedisKey Calls(string number) => keys.Subscriber(number, "calls");

    /// <summary>Calls in which two parties reached each other (call id scored by answer time), either direction, kept until callbacks between them are past their deadline.</summary>
    public RedisKey PairConnections(string a, string b) => keys.Pair(a, b, "connected");
}
