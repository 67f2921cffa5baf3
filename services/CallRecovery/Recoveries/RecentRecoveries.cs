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
/// dictionary over a list in the order recoveries were first remembered, under one lock: no compaction scanning and
/// sorting every entry whenever the cache is full (Microsoft.Extensions.Caching.Memory's, used until 2026-12-08, which
/// also turned new entries away while full until a compaction in the background made room).
/// </summary>
public sealed class RecentRecoveries : IDisposable
{
    private static readonly TimeSpan Keep = TimeSpan.FromMinutes(1);

    private readonly int _capacity;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LinkedListNode<Known>> _known = new(StringComparer.Ordinal);
    // Earliest first remembered at the head: the first to go when the cache is full.
    private readonly LinkedList<Known> _order = new();
    private readonly IConnectionMultiplexer? _redis;

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

    /// <summary>The recovery as this replica last knew it, if it does (within the last minute).</summary>
    public StoredRecovery? Get(string callId)
    {
        lock (_gate)
        {
            return _known.TryGetValue(callId, out var node) && _time.GetElapsedTime(node.Value.At) < Keep ? node.Value.Stored with { Recent = true } : null;
        }
    }

    /// <summary>The recovery as just read or written; an ended one (or none) is forgotten. An older version never replaces a newer one.</summary>
    public void Remember(string callId, StoredRecovery? stored)
    {
        if (stored is null || RecoveryLifecycle.IsFinal(stored.Record.State))
        {
            Forget(callId);
            return;
        }

        if (_capacity == 0)
        {
            return;
        }

        var known = new Known(callId, stored with { Recent = false }, _time.GetTimestamp());
        lock (_gate)
        {
            if (_known.TryGetValue(callId, out var node))
            {
                // Remembered again: newer (or the one known has had its minute), in the place it first had.
                if (node.Value.Stored.Version <= stored.Version || _time.GetElapsedTime(node.Value.At) >= Keep)
                {
                    node.Value = known;
                }

                return;
            }

            _known.Add(callId, _order.AddLast(known));
            if (_known.Count > _capacity)
            {
                _known.Remove(_order.First!.Value.CallId);
                _order.RemoveFirst();
            }
        }
    }

    /// <summary>Forgets what this replica knew of the recovery (a write whose outcome is not known).</summary>
    public void Forget(string callId)
    {
        lock (_gate)
        {
            if (_known.Remove(callId, out var node))
            {
                _order.Remove(node);
            }
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
            _order.Clear();
        }
    }

    private readonly record struct Known(string CallId, StoredRecovery Stored, long At);
}
