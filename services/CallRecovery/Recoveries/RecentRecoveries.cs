using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Recoveries;

/// <summary>
/// The recoveries this replica last read or wrote, each at its version, for the moves that follow one another soon
/// (the dispatch after the creation, the switch's acknowledgement after the dispatch, the outcome after that): the door
/// decides such a move on what it has here instead of reading the recovery again. Only a hint, never state another
/// replica needs: a move is written only if the recovery is still at the version it was decided on (another replica's
/// move came first: it is decided again on the recovery as it is now, as always). Bounded
/// (<see cref="RedisOptions.RecentRecoveries"/> entries, each for a minute; when full, the recovery learnt of
/// earliest goes first: the next move is most likely the newest's), forgotten at a recovery's end, and all forgotten
/// when the connection to Redis fails or comes back, so writes a failover lost cannot be taken for stored. A
/// dictionary and the order recoveries arrived in, under one lock: no entry objects, no compaction scanning and
/// sorting every entry whenever the cache is full (Microsoft.Extensions.Caching.Memory's, used until 2026-12-08, which
/// also turned new entries away while full until a compaction in the background made room).
/// </summary>
public sealed class RecentRecoveries : IDisposable
{
    private static readonly TimeSpan Keep = TimeSpan.FromMinutes(1);

    private readonly int _capacity;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Known> _known = new(StringComparer.Ordinal);
    // Call ids in the order they were first remembered, with that arrival's number: an entry forgotten or remembered
    // anew since is left here (its number no longer matches) and skipped when its turn comes.
    private readonly Queue<(string CallId, long Arrival)> _arrivals = new();
    private readonly IConnectionMultiplexer? _redis;
    private long _nextArrival;

    public RecentRecoveries(IOptions<RedisOptions> options, IConnectionMultiplexer? redis = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _capacity = options.Value.RecentRecoveries;
        _time = time ?? TimeProvider.System;
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
    public StoredRecovery? Get(string callId)
    {
        if (_capacity == 0)
        {
            return null;
        }

        lock (_gate)
        {
            if (!_known.TryGetValue(callId, out var known))
            {
                return null;
            }

            if (_time.GetElapsedTime(known.At) >= Keep)
            {
                _known.Remove(callId);
                return null;
            }

            return known.Stored with { Recent = true };
        }
    }

    /// <summary>The recovery as just read or written; an ended one (or none) is forgotten. An older version never replaces a newer one.</summary>
    public void Remember(string callId, StoredRecovery? stored)
    {
        if (_capacity == 0)
        {
            return;
        }

        if (stored is null || RecoveryLifecycle.IsFinal(stored.Record.State))
        {
            Forget(callId);
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (_known.TryGetValue(callId, out var known))
            {
                if (known.Stored.Version > stored.Version && _time.GetElapsedTime(known.At) < Keep)
                {
                    return;
                }

                _known[callId] = known with { Stored = stored with { Recent = false }, At = now };
                return;
            }

            var arrival = _nextArrival++;
            _known.Add(callId, new Known(stored with { Recent = false }, now, arrival));
            _arrivals.Enqueue((callId, arrival));
            while (_known.Count > _capacity)
            {
                var (earliest, itsArrival) = _arrivals.Dequeue();
                if (_known.TryGetValue(earliest, out var gone) && gone.Arrival == itsArrival)
                {
                    _known.Remove(earliest);
                }
            }

            if (_arrivals.Count > 2 * _capacity)
            {
                // Mostly forgotten ones (recoveries end as fast as they come): the order is kept for those still known only.
                var live = _arrivals.Where(a => _known.TryGetValue(a.CallId, out var k) && k.Arrival == a.Arrival).ToList();
                _arrivals.Clear();
                foreach (var a in live)
                {
                    _arrivals.Enqueue(a);
                }
            }
        }
    }

    /// <summary>Forgets what this replica knew of the recovery (a write whose outcome is not known).</summary>
    public void Forget(string callId)
    {
        if (_capacity == 0)
        {
            return;
        }

        lock (_gate)
        {
            _known.Remove(callId);
        }
    }

    public void Dispose()
    {
        if (_redis is not null)
        {
            _redis.ConnectionFailed -= ForgetAll;
            _redis.ConnectionRestored -= ForgetAll;
            _redis.ConfigurationChanged -= ForgetAll;
            _redis.ConfigurationChangedBroadcast -= ForgetAll;
        }
    }

    private void ForgetAll(object? sender, EventArgs e)
    {
        lock (_gate)
        {
            _known.Clear();
            _arrivals.Clear();
        }
    }

    private readonly record struct Known(StoredRecovery Stored, long At, long Arrival);
}
