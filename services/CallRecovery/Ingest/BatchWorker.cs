using System.Diagnostics;
using CallRecovery.Decisions;
using CallRecovery.Kafka;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Redis;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace CallRecovery.Ingest;

/// <summary>
/// Decides one batch of Kafka messages, the consume loop's unit of work: each message is read once (its process span
/// started, continuing its traceparent), unusable ones go to the dead-letter topic, the rest are handed to the decider
/// in one call, retried with backoff while Redis or Kafka is away (the readiness probe told which), and an event the
/// decider fails on for its own reasons is isolated and dead-lettered while the events around it are decided. Its
/// spans end when the batch is decided.
/// </summary>
public sealed partial class BatchWorker(
    IOptions<KafkaOptions> options,
    NetworkEventReader reader,
    RecoveryDecider decider,
    DeadLetterPublisher deadLetters,
    DependencyHealth health,
    ServiceProblems problems,
    DurabilityBarrier durability,
    ILogger<BatchWorker> logger)
{
    private readonly KafkaOptions _options = options.Value;

    /// <summary>
    /// Decides the batch, retrying while Redis or Kafka is away; throws only when stopping or on a failure that is not
    /// transient (then the consumer is rebuilt and the batch replayed).
    /// </summary>
    public async Task DecideAsync(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> batch, CancellationToken stoppingToken)
    {
        var read = batch.Select(Read).ToList();
        var started = DateTimeOffset.UtcNow;
        try
        {
            var settled = await BuildRetry(stoppingToken).ExecuteAsync(
                static async (state, _) => await state.Self.ProcessAsync(state.Read).ConfigureAwait(false),
                (Self: this, Read: read),
                stoppingToken).ConfigureAwait(false);
            EndSpans(read, settled, started);
        }
        catch
        {
            foreach (var item in read)
            {
                item.Activity?.Dispose();
            }

            throw;
        }
    }

    /// <summary>A message read once per batch (not per retry): what it turned out to be and its process span.</summary>
    private sealed record ReadEvent(ConsumeResult<byte[]?, byte[]?> Source, IngestedEvent Event, Activity? Activity);

    private async Task<IReadOnlyList<SettledDecision>> ProcessAsync(List<ReadEvent> read)
    {
        if (problems.TryGet(ServiceProblem.OutboxFull, out var full))
        {
            // Backpressure: new recoveries wait (nothing committed, nothing dropped) until the outboxes drain.
            throw new HeldBackException(ServiceProblem.OutboxFull, full);
        }

        var rejects = read.Where(r => r.Event is RejectedEvent).Select(r => (r.Source, (RejectedEvent)r.Event)).ToList();
        var deadLettered = Guard(deadLetters.PublishAsync(rejects));
        var failed = new List<(ConsumeResult<byte[]?, byte[]?> Source, RejectedEvent Rejection)>();
        var decided = Guard(DecideIsolatingAsync(read, failed));
        await Task.WhenAll(decided, deadLettered).ConfigureAwait(false);
        await Guard(deadLetters.PublishAsync(failed)).ConfigureAwait(false);
        // The offsets are stored once this returns: only after what the batch wrote is durable (one wait a batch).
        await Guard(durability.WaitAsync()).ConfigureAwait(false);
        health.RedisWorks();
        problems.Clear(ServiceProblem.RedisRefusesWrites);
        return await decided.ConfigureAwait(false);
    }

    /// <summary>
    /// Decides the events; when that fails for a reason that is not "Redis or Kafka is away" (so retrying the
    /// same events would fail again), splits them in halves until the event at fault stands alone, and sends
    /// that one to the dead-letter topic. The rest are decided as usual; decisions are idempotent, so deciding an
    /// event twice on the way changes nothing.
    /// </summary>
    private async Task<IReadOnlyList<SettledDecision>> DecideIsolatingAsync(IReadOnlyList<ReadEvent> items, List<(ConsumeResult<byte[]?, byte[]?> Source, RejectedEvent Rejection)> failed)
    {
        try
        {
            return await decider.DecideAsync([.. items.Select(i => i.Event)]).ConfigureAwait(false);
        }
        catch (Exception e) when (!TransientErrors.IsTransient(e))
        {
            if (items.Count == 1)
            {
                var item = items[0];
                var problem = TransientErrors.Describe(e);
                LogIsolated(item.Source.Topic, item.Source.Partition.Value, item.Source.Offset.Value, problem);
                RecoveryTracing.Failed(item.Activity, "processing_error", problem);
                if (item.Event is not RejectedEvent)
                {
                    failed.Add((item.Source, new RejectedEvent("processing_error", $"The event could not be decided: {problem}.", item.Event.EventId, item.Event.CallId)));
                }

                return [];
            }

            var half = items.Count / 2;
            var first = await DecideIsolatingAsync([.. items.Take(half)], failed).ConfigureAwait(false);
            var second = await DecideIsolatingAsync([.. items.Skip(half)], failed).ConfigureAwait(false);
            return [.. first, .. second];
        }
    }

    private ReadEvent Read(ConsumeResult<byte[]?, byte[]?> result)
    {
        var activity = RecoveryTracing.StartProcess(result, _options.GroupId);
        var ingested = reader.Read(result.Message);
        switch (ingested)
        {
            case RejectedEvent rejected:
                RecoveryTracing.Failed(activity, rejected.ErrorCode, rejected.Message);
                activity?.SetTag(RecoveryTracing.CallId, rejected.CallId);
                LogRejected(result.Topic, result.Partition.Value, result.Offset.Value, rejected.ErrorCode, rejected.Message);
                break;
            case DropReported reported when activity is not null:
                ingested = reported with { Drop = reported.Drop with { TraceParent = activity.Id ?? string.Empty } };
                break;
        }

        return new ReadEvent(result, ingested, activity);
    }

    /// <summary>Each event's decide (and schedule) span, then the end of its process span.</summary>
    private static void EndSpans(List<ReadEvent> read, IReadOnlyList<SettledDecision> settled, DateTimeOffset started)
    {
        var byEvent = new Dictionary<(string, string), SettledDecision>();
        foreach (var decision in settled)
        {
            byEvent.TryAdd((decision.Record.CallId, decision.Record.EventId), decision);
        }

        foreach (var item in read)
        {
            if (item.Event is DropReported && byEvent.TryGetValue((item.Event.CallId, item.Event.EventId), out var decision))
            {
                var plan = decision.Record.Reason == DecisionReason.Accepted ? decision.Pending.Plan : null;
                DecisionTracing.Decided(item.Activity, decision.Record, started, plan);
            }

            item.Activity?.Dispose();
        }
    }

    /// <summary>Notes which dependency failed, for readiness, and lets the retry see the failure.</summary>
    private async Task Guard(Task work) => await Guard(Wrap(work)).ConfigureAwait(false);

    private static async Task<bool> Wrap(Task work)
    {
        await work.ConfigureAwait(false);
        return true;
    }

    private async Task<T> Guard<T>(Task<T> work)
    {
        try
        {
            return await work.ConfigureAwait(false);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            if (TransientErrors.IsRedis(e))
            {
                health.RedisFailed(TransientErrors.Describe(e));
                problems.SawRedis(e);
            }
            else if (e is HeldBackException)
            {
                // Said by whoever held it back (the durability barrier, the outbox drain).
            }
            else
            {
                health.KafkaFailed(TransientErrors.Describe(e));
            }

            throw;
        }
    }

    /// <summary>A batch is retried while Redis or Kafka is away; the consume thread keeps the group membership meanwhile.</summary>
    private ResiliencePipeline BuildRetry(CancellationToken stoppingToken) =>
        new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => TransientErrors.IsTransient(e) && !stoppingToken.IsCancellationRequested),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(100),
                MaxDelay = _options.MaxRetryDelay,
                OnRetry = args =>
                {
                    LogRetrying(args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds, args.Outcome.Exception is { } e ? TransientErrors.Describe(e) : null);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Dead-lettering {Topic}[{Partition}]@{Offset}: {ErrorCode}: {Reason}")]
    private partial void LogRejected(string topic, int partition, long offset, string errorCode, string reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Batch not decided yet (attempt {Attempt}); retrying in {DelayMs} ms: {Reason}")]
    private partial void LogRetrying(int attempt, double delayMs, string? reason);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Error, Message = "Dead-lettering {Topic}[{Partition}]@{Offset}: it could not be decided ({Problem}); the events around it were")]
    private partial void LogIsolated(string topic, int partition, long offset, string problem);
}
