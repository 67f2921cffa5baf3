using System.Globalization;
using CallRecovery.Ingest;
using CallRecovery.Kafka;
using CallRecovery.SwitchApi;
using Confluent.Kafka;

namespace CallRecovery.Redrive;

/// <summary>
/// One run: the dead-letter topic read from the filter's start to its end as it was when the run began (so what a
/// redrive dead-letters again is never read twice), each matching dead letter judged, the report printed; the ones
/// the configuration in force would decide republished with --apply, or after a "yes" (then read again and only
/// those that were reported sent). Kafka clients with the service's own settings (Kafka:Consumer:*,
/// Kafka:Producer:*: security, SASL, SSL), never committing anything.
/// </summary>
internal sealed class RedriveRun(ServiceConfiguration service, RedriveFilter filter, TextWriter output, TextWriter error, ProgressLine progress)
{
    /// <summary>Sends in flight before waiting for their acknowledgements.</summary>
    private const int Window = 500;
    private static readonly TimeSpan KafkaTimeout = TimeSpan.FromSeconds(15);

    private readonly Dictionary<string, int> _partitionsOf = new(StringComparer.Ordinal);
    private readonly List<Task> _inFlight = [];
    private string? _lastKafkaError;
    private long _republished;

    private sealed record PartitionRange(TopicPartition Partition, long Start, long End);

    private KafkaOptions KafkaSettings => service.Kafka;

    public async Task<int> RunAsync(bool apply, bool list, Func<string, bool> confirm, CancellationToken cancellationToken)
    {
        using var consumer = BuildConsumer();
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var report = new RedriveReport();
        IProducer<byte[]?, byte[]?>? producer = null;
        try
        {
            var ranges = Ranges(consumer, admin);
            if (ranges is null)
            {
                return 1;
            }

            producer = apply ? BuildProducer() : null;
            var chosen = new HashSet<(int Partition, long Offset)>();
            await ScanAsync(consumer, ranges, report, async letter =>
            {
                var origin = DeadLetterOrigin.Of(letter.Message.Headers);
                if (!filter.Matches(letter, origin))
                {
                    return;
                }

                var check = service.Redrive.Check(letter.Message, origin);
                var destination = DeadLetterRedrive.DestinationOf(origin, KafkaSettings);
                report.Add(origin, check, destination);
                if (list)
                {
                    progress.Clear();
                    output.WriteLine(Line(letter, origin, check));
                }

                if (check.Verdict == RedriveVerdict.WouldDecide)
                {
                    if (producer is not null)
                    {
                        await SendAsync(producer, admin, letter, origin, destination).ConfigureAwait(false);
                    }
                    else
                    {
                        chosen.Add((letter.Partition.Value, letter.Offset.Value));
                    }
                }
            }, cancellationToken).ConfigureAwait(false);
            await FlushAsync().ConfigureAwait(false);
            progress.Clear();
            report.Republished = Interlocked.Read(ref _republished);
            report.Print(output, KafkaSettings.DeadLetterTopic, filter, service);

            if (producer is null && chosen.Count > 0
                && confirm($"Republish the {chosen.Count.ToString("N0", CultureInfo.InvariantCulture)} events it would decide to {string.Join(", ", report.Destinations)}?"))
            {
                var confirmed = BuildProducer();
                producer = confirmed;
                var again = new RedriveReport();
                await ScanAsync(consumer, ranges, again, async letter =>
                {
                    // Only what was reported, and only if it still reads as valid.
                    if (!chosen.Contains((letter.Partition.Value, letter.Offset.Value)))
                    {
                        return;
                    }

                    var origin = DeadLetterOrigin.Of(letter.Message.Headers);
                    var check = service.Redrive.Check(letter.Message, origin);
                    if (check.Verdict == RedriveVerdict.WouldDecide)
                    {
                        var destination = DeadLetterRedrive.DestinationOf(origin, KafkaSettings);
                        again.Add(origin, check, destination);
                        await SendAsync(confirmed, admin, letter, origin, destination).ConfigureAwait(false);
                    }
                }, cancellationToken).ConfigureAwait(false);
                await FlushAsync().ConfigureAwait(false);
                progress.Clear();
            }

            report.Republished = Interlocked.Read(ref _republished);
            output.WriteLine(report.Totals);
            if (producer is null)
            {
                output.WriteLine(report.WouldDecide > 0
                    ? "Dry run: nothing was republished. --apply republishes the events it would decide (safe to repeat: the service decides each report once)."
                    : "Dry run: nothing to republish.");
            }

            return 0;
        }
        catch (ProduceException<byte[]?, byte[]?> e)
        {
            return Stopped(report, $"republishing stopped: {e.Error.Code} ({e.Error.Reason}). What was sent is safe; running again sends the rest (the service decides each report once).");
        }
        catch (KafkaException e)
        {
            return Stopped(report, $"stopped: Kafka said {e.Error.Code} ({e.Error.Reason}).");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await FlushQuietlyAsync().ConfigureAwait(false);
            return Stopped(report, "interrupted. What was sent is safe; running again sends the rest (the service decides each report once).");
        }
        finally
        {
            producer?.Dispose();
        }
    }

    private int Stopped(RedriveReport report, string why)
    {
        progress.Clear();
        report.Republished = Interlocked.Read(ref _republished);
        error.WriteLine("callrecovery-redrive " + why);
        output.WriteLine(report.Totals);
        return 1;
    }

    /// <summary>Each partition of the dead-letter topic from the filter's start (or its beginning) to its end now; null when the topic cannot be read.</summary>
    private List<PartitionRange>? Ranges(IConsumer<byte[]?, byte[]?> consumer, IAdminClient admin)
    {
        var topic = admin.GetMetadata(KafkaSettings.DeadLetterTopic, KafkaTimeout).Topics.SingleOrDefault();
        if (topic is null || topic.Error.IsError || topic.Partitions.Count == 0)
        {
            error.WriteLine($"callrecovery-redrive cannot read the dead-letter topic {KafkaSettings.DeadLetterTopic} (Kafka:DeadLetterTopic): {topic?.Error.Reason ?? "no such topic"}.");
            return null;
        }

        var ranges = new List<PartitionRange>();
        foreach (var partition in topic.Partitions.Select(p => new TopicPartition(topic.Topic, p.PartitionId)).OrderBy(p => p.Partition.Value))
        {
            var watermarks = consumer.QueryWatermarkOffsets(partition, KafkaTimeout);
            var start = watermarks.Low.Value;
            if (filter.Since is { } since)
            {
                // The earliest offset whose timestamp is at or after --since (none: the partition has nothing that late).
                var found = consumer.OffsetsForTimes([new TopicPartitionTimestamp(partition, new Timestamp(since))], KafkaTimeout).Single().Offset;
                start = found.Value < 0 ? watermarks.High.Value : Math.Max(found.Value, start);
            }

            ranges.Add(new PartitionRange(partition, start, watermarks.High.Value));
        }

        return ranges;
    }

    private async Task ScanAsync(IConsumer<byte[]?, byte[]?> consumer, List<PartitionRange> ranges, RedriveReport report, Func<ConsumeResult<byte[]?, byte[]?>, Task> handle, CancellationToken cancellationToken)
    {
        var open = ranges.Where(r => r.Start < r.End).ToDictionary(r => r.Partition.Partition.Value, r => r.End);
        var total = ranges.Sum(r => Math.Max(0, r.End - r.Start));
        var assigned = ranges.Where(r => r.Start < r.End).ToList();
        consumer.Assign(assigned.Select(r => new TopicPartitionOffset(r.Partition, new Offset(r.Start))));
        // A second read (after a "yes") assigns partitions the first one paused at their end.
        consumer.Resume(assigned.Select(r => r.Partition));
        while (open.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ConsumeResult<byte[]?, byte[]?>? letter;
            try
            {
                letter = consumer.Consume(TimeSpan.FromMilliseconds(250));
            }
            catch (ConsumeException e) when (!e.Error.IsFatal)
            {
                KafkaTrouble(e.Error);
                continue;
            }

            progress.Update(() => string.Create(CultureInfo.InvariantCulture,
                $"{KafkaSettings.DeadLetterTopic}: {report.Read:N0} of {total:N0} read, {report.Matched:N0} matched, {Interlocked.Read(ref _republished):N0} republished"));
            if (letter is null || !open.TryGetValue(letter.Partition.Value, out var end))
            {
                continue;
            }

            if (letter.IsPartitionEOF || letter.Offset.Value >= end)
            {
                // At the end as it was when the run began (what this run dead-letters again is not read).
                Done(letter.TopicPartition);
                continue;
            }

            report.Read++;
            await handle(letter).ConfigureAwait(false);
            if (letter.Offset.Value >= end - 1)
            {
                Done(letter.TopicPartition);
            }
        }

        void Done(TopicPartition partition)
        {
            open.Remove(partition.Partition.Value);
            consumer.Pause([partition]);
        }
    }

    private async Task SendAsync(IProducer<byte[]?, byte[]?> producer, IAdminClient admin, ConsumeResult<byte[]?, byte[]?> letter, DeadLetterOrigin origin, string topic)
    {
        var partitions = PartitionsOf(admin, topic);
        // Back to the partition it came from (its key's place, whatever partitioner the network used), when it still exists.
        var target = origin.SourceTopic == topic && origin.SourcePartition is { } partition && partition < partitions
            ? new TopicPartition(topic, partition)
            : new TopicPartition(topic, Partition.Any);
        var message = DeadLetterRedrive.Redriven(letter, service.Time.GetUtcNow());
        _inFlight.Add(SendOneAsync(producer, target, message));
        if (_inFlight.Count >= Window)
        {
            await FlushAsync().ConfigureAwait(false);
        }
    }

    private async Task SendOneAsync(IProducer<byte[]?, byte[]?> producer, TopicPartition target, Message<byte[]?, byte[]?> message)
    {
        await producer.ProduceAsync(target, message).ConfigureAwait(false);
        Interlocked.Increment(ref _republished);
    }

    private async Task FlushAsync()
    {
        try
        {
            await Task.WhenAll(_inFlight).ConfigureAwait(false);
        }
        finally
        {
            _inFlight.Clear();
        }
    }

    private async Task FlushQuietlyAsync()
    {
        try
        {
            await FlushAsync().WaitAsync(KafkaTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ProduceException<byte[]?, byte[]?> or KafkaException or TimeoutException)
        {
            // Interrupted: the totals say what was acknowledged.
        }
    }

    private int PartitionsOf(IAdminClient admin, string topic)
    {
        if (!_partitionsOf.TryGetValue(topic, out var count))
        {
            var metadata = admin.GetMetadata(topic, KafkaTimeout).Topics.SingleOrDefault();
            count = metadata is null || metadata.Error.IsError ? 0 : metadata.Partitions.Count;
            _partitionsOf[topic] = count;
            if (!KafkaSettings.EffectiveInputTopics.Contains(topic, StringComparer.Ordinal))
            {
                progress.Clear();
                error.WriteLine($"note: {topic} is not one of Kafka:InputTopics; the service does not read what is republished there.");
            }
        }

        return count;
    }

    /// <summary>One dead letter, without anything that could be a number: its place, its codes, the verdict, its ids (masked where they look like numbers).</summary>
    private static string Line(ConsumeResult<byte[]?, byte[]?> letter, DeadLetterOrigin origin, RedriveCheck check)
    {
        var verdict = check.Verdict switch
        {
            RedriveVerdict.StillInvalid => $"still invalid: {check.Code} ({check.Detail})",
            RedriveVerdict.Incomplete => $"incomplete: {check.Detail}",
            _ => "would decide" + (check.PastDeadline ? " (past its callback deadline: stale)" : string.Empty)
                + (check.EventId.Length > 0 ? $"  event {SwitchText.Clean(check.EventId)}" : string.Empty)
                + (check.CallId.Length > 0 ? $"  call {SwitchText.Clean(check.CallId)}" : string.Empty),
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"  dlq {letter.Partition.Value}/{letter.Offset.Value}  from {origin.SourceTopic}[{origin.SourcePartition?.ToString(CultureInfo.InvariantCulture) ?? "?"}]@{origin.SourceOffset?.ToString(CultureInfo.InvariantCulture) ?? "?"}  {RedriveReport.Code(origin.ErrorCode)} -> {verdict}");
    }

    private IConsumer<byte[]?, byte[]?> BuildConsumer()
    {
        var config = KafkaClientSettings.Consumer(KafkaSettings);
        // A reader of its own: never the service's group, never a commit, offsets given by the run.
        config.GroupId = KafkaSettings.GroupId + ".redrive";
        config.EnableAutoCommit = false;
        config.EnablePartitionEof = true;
        // It never subscribes (partitions are assigned by the run), so the group's rebalance protocol does not apply.
        config.PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range;
        return new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((_, e) => KafkaTrouble(e))
            .Build();
    }

    private IProducer<byte[]?, byte[]?> BuildProducer() =>
        new ProducerBuilder<byte[]?, byte[]?>(KafkaClientSettings.Producer(KafkaSettings))
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((_, e) => KafkaTrouble(e))
            .Build();

    private void Log(LogMessage message)
    {
        if (message.Level <= SyslogLevel.Warning)
        {
            progress.Clear();
            error.WriteLine($"librdkafka {message.Facility}: {message.Message}");
        }
    }

    /// <summary>Kafka trouble, said once until it changes (librdkafka retries by itself; Ctrl-C stops the run).</summary>
    private void KafkaTrouble(Error e)
    {
        var text = $"Kafka: {e.Code} ({e.Reason})";
        if (text != _lastKafkaError)
        {
            _lastKafkaError = text;
            progress.Clear();
            error.WriteLine(text);
        }
    }
}
