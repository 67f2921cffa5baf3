using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using CallRecovery.Kafka;
using CallRecovery.Observability;
using CallRecovery.Probes;

namespace CallRecovery.Ingest;

/// <summary>
/// The consume loop: read a batch while earlier batches are decided by the <see cref="BatchWorker"/> (Redis, and
/// their unusable events dead-lettered to Kafka); store a partition's offset for the next commit only once every batch
/// before it is decided (<see cref="PartitionOffsets"/>). At least once: a crash, restart or rebalance replays from the last commit, and replays change nothing.
/// While Redis or Kafka is unreachable each batch is retried with backoff; once every decision slot is taken, the
/// assigned partitions are paused and the group membership is kept alive.
/// </summary>
public sealed partial class NetworkEventConsumer(
    IOptions<KafkaOptions> options,
    BatchWorker worker,
    DependencyHealth health,
    ServiceProblems problems,
    ConsumerLag lag,
    CallRecoveryTelemetry telemetry,
    LoopSupervisor supervisor,
    LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<NetworkEventConsumer> logger) : BackgroundService
{
    private const string Loop = "consume";

    /// <summary>Batches that failed in a row, each replayed on a consumer built again: from the second, the consumer is stalled.</summary>
    private const int StalledAfter = 2;
    private readonly KafkaOptions _options = options.Value;
    private int _failedInARow;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // librdkafka's Consume blocks a thread; give the loop its own. Supervised: nothing one event does stops it.
        Task.Factory.StartNew(() => supervisor.RunAsync(Loop, RunAsync, stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            using var consumer = BuildConsumer();
            health.ConsumerStarted(time.GetTimestamp());
            try
            {
                consumer.Subscribe(_options.EffectiveInputTopics);
                await ConsumeAsync(consumer, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Shutting down: an unfinished batch is abandoned; its offsets were never stored, so the next owner replays it.
            }
            catch (ConsumeException e) when (e.Error.IsFatal)
            {
                LogFatalConsumerError(e.Error.Reason);
                await Task.Delay(_options.MaxRetryDelay, stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                // Commits the stored offsets and leaves the group, so partitions move at once.
                consumer.Close();
            }
        }
    }

    /// <summary>
    /// Pipelined: this thread reads and decodes the next batch while earlier ones are decided (up to
    /// <see cref="KafkaOptions.MaxBatchesInFlight"/> at once), and stores each partition's offset as far as the
    /// contiguous decided prefix reaches. When every slot is taken for long (Redis or Kafka away, each batch retrying),
    /// it pauses the assigned partitions and keeps polling, so the group does not evict us; whatever a new assignment
    /// delivers meanwhile waits for the next batch.
    /// </summary>
    private Task ConsumeAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stoppingToken)
    {
        var offsets = new PartitionOffsets();
        var decided = new System.Collections.Concurrent.ConcurrentQueue<(IReadOnlyList<PartitionOffsets.Slot> Slots, Exception? Failure)>();
        var inFlight = new List<Task>();
        var carried = new List<ConsumeResult<byte[]?, byte[]?>>();
        using var room = new SemaphoreSlim(_options.MaxBatchesInFlight, _options.MaxBatchesInFlight);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                heartbeats.Beat(Loop);
                StoreDecided(consumer, offsets, decided);
                var batch = ConsumeBatch(consumer, carried, stoppingToken);
                if (batch.Count == 0)
                {
                    continue;
                }

                WaitForRoom(consumer, room, carried, offsets, decided, stoppingToken);
                var slots = offsets.Track(batch);
                inFlight.RemoveAll(t => t.IsCompleted);
                inFlight.Add(DecideBatchAsync(batch, slots, decided, room, stoppingToken));
            }
        }
        finally
        {
            // Batches under way finish (or, when stopping, give up at their next retry); what they decided is stored
            // and committed by Close. An undecided batch's offsets are never stored: the next owner replays it.
            // DecideBatchAsync catches everything, so these tasks never fault.
            Task.WaitAll([.. inFlight], TimeSpan.FromSeconds(10));
            StoreDecided(consumer, offsets, decided, throwOnFailure: false);
        }

        return Task.CompletedTask;
    }

    /// <summary>Decides one batch on the worker and hands its offsets back to the consume thread (never throws).</summary>
    private async Task DecideBatchAsync(
        List<ConsumeResult<byte[]?, byte[]?>> batch,
        IReadOnlyList<PartitionOffsets.Slot> slots,
        System.Collections.Concurrent.ConcurrentQueue<(IReadOnlyList<PartitionOffsets.Slot> Slots, Exception? Failure)> decided,
        SemaphoreSlim room,
        CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await worker.DecideAsync(batch, stoppingToken).ConfigureAwait(false);
            decided.Enqueue((slots, null));
            Interlocked.Exchange(ref _failedInARow, 0);
            problems.Clear(ServiceProblem.ConsumerStalled);
        }
        catch (Exception e)
        {
            // Not decided: its slots stay undecided, so neither its offsets nor any later batch's on the same partitions
            // are ever stored. Stopping abandons it (the next owner replays it); anything else rebuilds the consumer.
            if (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                decided.Enqueue(([], e));
                if (Interlocked.Increment(ref _failedInARow) >= StalledAfter)
                {
                    // Replayed and failed again: the loop runs, but nothing is decided. Not ready until a batch goes through.
                    problems.Report(ServiceProblem.ConsumerStalled, $"the consumer replays a batch that fails every time ({TransientErrors.Describe(e)})");
                }
            }
        }
        finally
        {
            room.Release();
        }
    }

    /// <summary>Stores the offsets that batches decided since the last call made safe; rethrows a batch's failure.</summary>
    private static void StoreDecided(
        IConsumer<byte[]?, byte[]?> consumer,
        PartitionOffsets offsets,
        System.Collections.Concurrent.ConcurrentQueue<(IReadOnlyList<PartitionOffsets.Slot> Slots, Exception? Failure)> decided,
        bool throwOnFailure = true)
    {
        var slots = new List<PartitionOffsets.Slot>();
        Exception? failure = null;
        while (decided.TryDequeue(out var batch))
        {
            if (batch.Failure is not null)
            {
                failure ??= batch.Failure;
                continue;
            }

            slots.AddRange(batch.Slots);
        }

        if (slots.Count > 0)
        {
            var assigned = consumer.Assignment.ToHashSet();
            foreach (var offset in offsets.Decided(slots).Where(o => assigned.Contains(o.TopicPartition)))
            {
                consumer.StoreOffset(offset);
            }
        }

        if (failure is not null && throwOnFailure)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>
    /// Waits for a free decision slot. After a short wait, pauses every assigned partition and polls (membership
    /// stays alive; messages of newly assigned partitions are carried to the next batch), resuming them once a slot frees.
    /// </summary>
    private void WaitForRoom(
        IConsumer<byte[]?, byte[]?> consumer,
        SemaphoreSlim room,
        List<ConsumeResult<byte[]?, byte[]?>> carried,
        PartitionOffsets offsets,
        System.Collections.Concurrent.ConcurrentQueue<(IReadOnlyList<PartitionOffsets.Slot> Slots, Exception? Failure)> decided,
        CancellationToken stoppingToken)
    {
        var paused = new List<TopicPartition>();
        try
        {
            while (!room.Wait(TimeSpan.FromMilliseconds(250), stoppingToken))
            {
                heartbeats.Beat(Loop);
                StoreDecided(consumer, offsets, decided);
                var unpaused = consumer.Assignment.Except(paused).ToList();
                if (unpaused.Count > 0)
                {
                    consumer.Pause(unpaused);
                    paused.AddRange(unpaused);
                }

                while (!stoppingToken.IsCancellationRequested && Consume(consumer, TimeSpan.Zero) is { } late)
                {
                    carried.Add(late);
                }
            }
        }
        finally
        {
            if (paused.Count > 0)
            {
                consumer.Resume(paused.Intersect(consumer.Assignment).ToList());
            }
        }
    }

    /// <summary>
    /// Waits for the first message (messages carried over from a pause come first), then takes what else arrives
    /// within the batch delay, up to the batch size.
    /// </summary>
    private List<ConsumeResult<byte[]?, byte[]?>> ConsumeBatch(IConsumer<byte[]?, byte[]?> consumer, List<ConsumeResult<byte[]?, byte[]?>> carried, CancellationToken stoppingToken)
    {
        var batch = new List<ConsumeResult<byte[]?, byte[]?>>(carried);
        carried.Clear();
        if (batch.Count == 0)
        {
            var first = Consume(consumer, TimeSpan.FromMilliseconds(250));
            if (first is null)
            {
                return batch;
            }

            batch.Add(first);
        }

        var deadline = DateTime.UtcNow + _options.MaxBatchDelay;
        while (batch.Count < _options.MaxBatchSize && !stoppingToken.IsCancellationRequested)
        {
            var left = deadline - DateTime.UtcNow;
            var next = Consume(consumer, left > TimeSpan.Zero ? left : TimeSpan.Zero);
            if (next is null)
            {
                break;
            }

            batch.Add(next);
        }

        telemetry.EventsConsumed(batch.Count, batch[0].Topic);
        return batch;
    }

    private ConsumeResult<byte[]?, byte[]?>? Consume(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout)
    {
        try
        {
            var result = consumer.Consume(timeout);
            return result is null || result.IsPartitionEOF ? null : result;
        }
        catch (ConsumeException e) when (!e.Error.IsFatal)
        {
            // Broker-side trouble (unknown topic, leader moves): librdkafka recovers by itself; say so and go on.
            LogConsumeError(e.Error.Code.ToString(), e.Error.Reason);
            return null;
        }
    }

    private IConsumer<byte[]?, byte[]?> BuildConsumer()
    {
        var config = KafkaClientSettings.Consumer(_options);
        return new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetLogHandler((_, message) =>
            {
                var level = KafkaServiceCollectionExtensions.KafkaLogLevel(message.Level);
                LogKafka(level, message.Facility, message.Message);
            })
            .SetErrorHandler((_, error) =>
            {
                if (error.Code is ErrorCode.Local_AllBrokersDown or ErrorCode.Local_Authentication || error.IsFatal)
                {
                    health.KafkaFailed(error.Reason);
                }
            })
            .SetStatisticsHandler((_, json) =>
            {
                using var statistics = JsonDocument.Parse(json);
                lag.Update(statistics.RootElement);
                health.GroupState(statistics.RootElement.TryGetProperty("cgrp", out var group)
                    && group.TryGetProperty("join_state", out var joinState) && joinState.GetString() == "steady");
                if (AnyBrokerUp(statistics.RootElement))
                {
                    health.KafkaWorks();
                }
                else
                {
                    health.KafkaFailed("no Kafka broker is reachable");
                }
            })
            .SetPartitionsAssignedHandler((_, partitions) => LogAssigned(partitions))
            .SetPartitionsRevokedHandler((c, partitions) =>
            {
                LogRevoked(partitions);
                CommitStored(c);
            })
            .SetPartitionsLostHandler((_, partitions) => LogLost(partitions))
            .Build();
    }

    private void CommitStored(IConsumer<byte[]?, byte[]?> consumer)
    {
        try
        {
            consumer.Commit();
        }
        catch (KafkaException e)
        {
            // Nothing stored yet, or the group is already gone: the next owner replays from the last commit.
            LogCommitSkipped(e.Error.Reason);
        }
    }

    /// <summary>librdkafka statistics list every broker with its state; brokers with a node id are real ones.</summary>
    internal static bool AnyBrokerUp(JsonElement statistics)
    {
        if (!statistics.TryGetProperty("brokers", out var brokers))
        {
            return false;
        }

        foreach (var broker in brokers.EnumerateObject())
        {
            if (broker.Value.GetProperty("nodeid").GetInt32() >= 0 && broker.Value.GetProperty("state").GetString() == "UP")
            {
                return true;
            }
        }

        return false;
    }

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Kafka consume error {Code}: {Reason}")]
    private partial void LogConsumeError(string code, string reason);

    [LoggerMessage(EventId = 1004, Message = "librdkafka {Facility}: {Text}")]
    private partial void LogKafka(LogLevel level, string facility, string text);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Fatal Kafka consumer error, rebuilding the consumer: {Reason}")]
    private partial void LogFatalConsumerError(string reason);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Partitions assigned: {Partitions}")]
    private partial void LogAssigned(IEnumerable<TopicPartition> partitions);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Partitions revoked: {Partitions}")]
    private partial void LogRevoked(IEnumerable<TopicPartitionOffset> partitions);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Warning, Message = "Partitions lost: {Partitions}")]
    private partial void LogLost(IEnumerable<TopicPartitionOffset> partitions);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Debug, Message = "No offsets committed on revoke: {Reason}")]
    private partial void LogCommitSkipped(string reason);
}
