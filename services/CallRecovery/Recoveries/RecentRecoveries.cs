using CallRecovery.Redis;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Recoveries;

/// <summary>
/// The recoveries this replica last read or wrote, each at its version, for the moves that follow one another soon
/// (the dispatch after the creation, the switch's acknowledgement after the dispatch, the outcome after that): the door
/// decides such a move on what it has here instead of reading the recovery again. Only a hint, never state another
/// replica needs: a move is written only if the recovery is still at the version it was decided on (another replica's
/// move came first: it is decided again on the recovery as it is now, as always). Bounded
/// (<see cref="RedisOptions.RecentRecoveries"/> entries, each for a minute), forgotten at a recovery's end, and all
/// forgotten when the connection to Redis fails or comes back, so writes a failover lost cannot be taken for stored.
/// </summary>
public sealed class RecentRecoveries : IDisposable
{
    private static readonly TimeSpan Keep = TimeSpan.FromMinutes(1);

    private readonly MemoryCache? _cache;
    private readonly IConnectionMultiplexer? _redis;

    public RecentRecoveries(IOptions<RedisOptions> options, IConnectionMultiplexer? redis = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Value.RecentRecoveries > 0)
        {
            _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.Value.RecentRecoveries });
        }

        _redis = redis;
        if (_redis is not null)
        {
            _redis.ConnectionFailed += ForgetAll;
            _redis.ConnectionRestored += ForgetAll;
            _redis.ConfigurationChanged += ForgetAll;
            _redis.ConfigurationChangedBroadcast += ForgetAll;
        }
    }

    /// <summary>The recovery as this replica last knew it, if it does.</summary>
    public StoredRecovery? Get(string callId) => _cache is not null && _cache.TryGetValue(callId, out StoredRecovery? stored) ? stored! with { Recent = true } : null;

    /// <summary>The recovery as just read or written; an ended one (or none) is forgotten. An older version never replaces a newer one.</summary>
    public void Remember(string callId, StoredRecovery? stored)
    {
        if (_cache is null)
        {
            return;
        }

        if (stored is null || RecoveryLifecycle.IsFinal(stored.Record.State))
        {
            _cache.Remove(callId);
            return;
        }

        if (_cache.TryGetValue(callId, out StoredRecovery? known) && known!.Version > stored.Version)
        {
            return;
        }

        _cache.Set(callId, stored with { Recent = false }, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = Keep });
    }

    /// <summary>Forgets what this replica knew of the recovery (a write whose outcome is not known).</summary>
    public void Forget(string callId) => _cache?.Remove(callId);

    public void Dispose()
    {
        if (_redis is not null)
        {
            _redis.ConnectionFailed -= ForgetAll;
            _redis.ConnectionRestored -= ForgetAll;
            _redis.ConfigurationChanged -= ForgetAll;
            _redis.ConfigurationChangedBroadcast -= ForgetAll;
        }

        _cache?.Dispose();
    }

    private void ForgetAll(object? sender, EventArgs e) => _cache?.Clear();
}
