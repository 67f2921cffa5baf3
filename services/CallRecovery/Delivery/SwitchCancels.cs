using System.Collections.Concurrent;
using System.Globalization;
using CallRecovery.Contracts.V1;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Delivery;

/// <summary>
/// Cancels reach a switch wherever it is connected. A cancel is added to the switch's cancels stream in Redis and
/// announced on a channel; every replica holding a stream of that switch reads what is new in the stream (woken by
/// the announcement, and at each sweep in case one was missed) and writes it to each of its connections of the
/// switch, after the command it withdraws if that is still being written there. A switch instance that connects
/// gets the cancels of the last while, in case one was posted while it had no stream.
/// </summary>
public sealed partial class SwitchCancels(
    IConnectionMultiplexer redis,
    IOptions<RedisOptions> redisOptions,
    IOptions<SwitchingOptions> options,
    SwitchConnections connections,
    ILogger<SwitchCancels> logger)
{
    private const int MostPerRead = 500;

    /// <summary>Most entries a switch's cancels stream keeps; older ones are about callbacks long decided.</summary>
    private const int MostKept = 20_000;

    /// <summary>Most recent cancels a newly connected instance gets (its outbox takes a window plus about a thousand messages).</summary>
    private const int MostOnConnect = 512;

    private readonly DeliveryKeys _keys = DeliveryKeys.For(redisOptions.Value);

    // How long a cancel matters: a callback that was not accepted by its deadline is void anyway, an accepted one is
    // supervised for the outcome timeouts.
    private readonly TimeSpan _keep = new[] { options.Value.CallbackDeadline, options.Value.OutcomeTimeout, options.Value.BridgedOutcomeTimeout }.Max() + TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (SemaphoreSlim Gate, RedisValue Last)> _read = new(StringComparer.Ordinal);

    /// <summary>Posts cancels for a switch: into its stream, then announced to every replica.</summary>
    public async Task PostAsync(string switchId, IReadOnlyList<CancelCommand> cancels)
    {
        if (cancels.Count == 0)
        {
            return;
        }

        var db = redis.GetDatabase();
        var key = _keys.Cancels(switchId);
        var added = cancels.Select(c => db.StreamAddAsync(key,
        [
            new NameValueEntry("recoveryId", c.RecoveryId),
            new NameValueEntry("callbackAttempt", c.CallbackAttempt),
            new NameValueEntry("attempt", c.Attempt),
            new NameValueEntry("reason", c.Reason),
        ], maxLength: MostKept, useApproximateMaxLength: true)).ToArray();
        await Task.WhenAll(added).ConfigureAwait(false);
        await db.KeyExpireAsync(key, _keep).ConfigureAwait(false);
        await redis.GetSubscriber().PublishAsync(_keys.CancelChannel(), switchId).ConfigureAwait(false);
    }

    /// <summary>Listens for cancels posted by any replica; each wakes the reading of its switch's stream if a stream of that switch is here.</summary>
    public Task SubscribeAsync() =>
        redis.GetSubscriber().SubscribeAsync(_keys.CancelChannel(), (channel, message) =>
        {
            var switchId = (string?)message ?? string.Empty;
            if (connections.Of(switchId).Count > 0)
            {
                // Runs on its own; it never throws (Redis failures are logged, and the sweep reads again).
                _ = DeliverNewAsync(switchId);
            }
        });

    /// <summary>Reads the cancels streams of every switch connected here (the safety net for an announcement missed while Redis was away).</summary>
    public Task DeliverAllNewAsync() => Task.WhenAll(connections.All().Select(c => c.SwitchId).Distinct(StringComparer.Ordinal).Select(DeliverNewAsync));

    /// <summary>A switch instance connected here: it gets the recent cancels of its switch (it may have had no stream when they were posted).</summary>
    public async Task CatchUpAsync(SwitchConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var since = Position(TimeProvider.System.GetUtcNow() - _keep);
        var entries = await redis.GetDatabase().StreamRangeAsync(_keys.Cancels(connection.SwitchId), since, "+", MostOnConnect, Order.Descending).ConfigureAwait(false);
        foreach (var entry in entries.Reverse())
        {
            Deliver(entry, [connection]);
        }

        if (connections.Of(connection.SwitchId).Count <= 1)
        {
            // The switch's first stream here: reading its cancels goes on from what this caught up on, not from where it
            // stopped when the switch was last here (hours of cancels would flood the new stream).
            var from = entries.Length > 0 ? entries[0].Id : Position(TimeProvider.System.GetUtcNow() - TimeSpan.FromSeconds(10));
            var state = _read.GetOrAdd(connection.SwitchId, _ => (new SemaphoreSlim(1, 1), from));
            _read[connection.SwitchId] = (state.Gate, from);
        }
    }

    /// <summary>Reads what is new in a switch's cancels stream and writes it to this replica's connections of the switch; one reader per switch at a time.</summary>
    public async Task DeliverNewAsync(string switchId)
    {
        // Where a replica starts reading a switch's stream: a little before now (a connection catches up on older ones itself).
        var state = _read.GetOrAdd(switchId, _ => (new SemaphoreSlim(1, 1), Position(TimeProvider.System.GetUtcNow() - TimeSpan.FromSeconds(10))));
        await state.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var last = _read[switchId].Last;
            while (true)
            {
                var entries = await redis.GetDatabase().StreamReadAsync(_keys.Cancels(switchId), last, MostPerRead).ConfigureAwait(false);
                if (entries.Length == 0)
                {
                    break;
                }

                var here = connections.Of(switchId);
                foreach (var entry in entries)
                {
                    Deliver(entry, here);
                }

                last = entries[^1].Id;
                _read[switchId] = (state.Gate, last);
                if (entries.Length < MostPerRead)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // Redis is away: the next announcement or sweep reads again from where this one got.
            LogUnavailable(switchId, TransientErrors.Describe(e));
        }
        finally
        {
            state.Gate.Release();
        }
    }

    private static void Deliver(StreamEntry entry, IReadOnlyList<SwitchConnection> to)
    {
        var cancel = new CancelCommand
        {
            RecoveryId = (string?)entry["recoveryId"] ?? string.Empty,
            CallbackAttempt = (uint)(long)entry["callbackAttempt"],
            Attempt = (uint)(long)entry["attempt"],
            Reason = (string?)entry["reason"] ?? string.Empty,
        };
        if (!RecoveryIds.TryGetCallId(cancel.RecoveryId, out var callId))
        {
            return;
        }

        foreach (var connection in to)
        {
            connection.SendCancel(callId, new ServiceMessage { Cancel = cancel });
        }
    }

    /// <summary>
    /// A stream position at a time: entries added after it. Stream ids are the Redis host's wall-clock milliseconds, so
    /// positions are taken from the system's clock, not the service's (which tests may shift).
    /// </summary>
    private static RedisValue Position(DateTimeOffset at) => Math.Max(0, at.ToUnixTimeMilliseconds()).ToString(CultureInfo.InvariantCulture) + "-0";

    [LoggerMessage(EventId = 3110, Level = LogLevel.Warning, Message = "Cancels of switch {SwitchId} not read, Redis unavailable: {Reason}")]
    private partial void LogUnavailable(string switchId, string reason);
}
