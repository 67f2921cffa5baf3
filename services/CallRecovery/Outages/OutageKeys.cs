using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Outages;

/// <summary>The storm guard's keys: per scope (a cell or a switching node) its recent drops, its incident and what it holds; and the incidents of the deployment.</summary>
public sealed class OutageKeys(RedisKeys keys)
{
    public static OutageKeys For(RedisOptions options) => new(RedisKeys.For(options));

    /// <summary>An outage scope's recent drops (call id scored by drop time), for the sliding-window count.</summary>
    public RedisKey Drops(string scope) => keys.Scope(scope, "drops");

    /// <summary>An outage scope's current incident (a hash: id, state, cell or node, start, count, end).</summary>
    public RedisKey Incident(string scope) => keys.Scope(scope, "incident");

    /// <summary>The call ids an outage scope's current incident holds (every drop counted while it is open).</summary>
    public RedisKey Held(string scope) => keys.Scope(scope, "held");

    /// <summary>Calls of a scope's ended incidents still to be released ("incident id|call id"), until each release is done.</summary>
    public RedisKey Releasing(string scope) => keys.Scope(scope, "releasing");

    /// <summary>An ended incident of a scope, by its start (unix ms), kept for lookups: the key prefix, its start appended (same slot).</summary>
    public RedisKey ArchivePrefix(string scope) => keys.Scope(scope, "incident:");

    public RedisKey Archive(string scope, long startMs) => keys.Scope(scope, "incident:" + startMs.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The start (unix ms) of a scope's last ended incident: drops up to it belong to it.</summary>
    public RedisKey LastEnded(string scope) => keys.Scope(scope, "last-ended");

    /// <summary>Every incident id, scored by start (unix ms), for listing; trimmed by age.</summary>
    public RedisKey Incidents() => keys.Global("incidents");

    /// <summary>The ids of open incidents.</summary>
    public RedisKey OpenIncidents() => keys.Global("incidents:open");

    /// <summary>Scopes that may have held recoveries still to release (written before an incident is ended, removed when all are released).</summary>
    public RedisKey ScopesReleasing() => keys.Global("incidents:releasing");
}
