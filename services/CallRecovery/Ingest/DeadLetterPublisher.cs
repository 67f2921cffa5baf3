using System.Globalization;
using System.Text;
using CallRecovery.Observability;
using Confluent.Kafka;
using Microsoft.Extensions.Options;

namespace CallRecovery.Ingest;

/// <summary>
/// Sends unusable events to the dead-letter topic: key, value and headers exactly as they arrived, plus
/// headers that say what was wrong and where the message came from. Awaits the broker's acknowledgement,
/// so the source offset is only stored once the dead letter is safe.
/// </summary>
public sealed class DeadLetterPublisher(IProducer<byte[]?, byte[]?> producer, IOptions<KafkaOptions> options, CallRecoveryTelemetry telemetry)
{
    public const string ErrorCodeHeader = "dlq-error-code";
    public const string ErrorMessageHeader = "dlq-error-message";
    public const string SourceTopicHeader = "dlq-source-topic";
    public const string SourcePartitionHeader = "dlq-source-partition";
    public const string SourceOffsetHeader = "dlq-source-offset";

    private readonly string _topic = options.Value.DeadLetterTopic;

    public async Task PublishAsync(IReadOnlyList<(ConsumeResult<byte[]?, byte[]?> Source, RejectedEvent Rejection)> rejects)
    {
        if (rejects.Count == 0)
        {
            return;
        }

        await Task.WhenAll(rejects.Select(r => producer.ProduceAsync(_topic, DeadLetter(r.Source, r.Rejection)))).ConfigureAwait(false);
        foreach (var (_, rejection) in rejects)
        {
            telemetry.DeadLettered(rejection.ErrorCode);
        }
    }

    private static Message<byte[]?, byte[]?> DeadLetter(ConsumeResult<byte[]?, byte[]?> source, RejectedEvent rejection)
    {
        var headers = new Headers();
        foreach (var header in source.Message.Headers ?? [])
        {
            headers.Add(header.Key, header.GetValueBytes());
        }

        headers.Add(ErrorCodeHeader, Encoding.UTF8.GetBytes(rejection.ErrorCode));
        headers.Add(ErrorMessageHeader, Encoding.UTF8.GetBytes(rejection.Message));
        headers.Add(SourceTopicHeader, Encoding.UTF8.GetBytes(source.Topic));
        headers.Add(SourcePartitionHeader, Encoding.UTF8.GetBytes(source.Partition.Value.ToString(CultureInfo.InvariantCulture)));
        headers.Add(SourceOffsetHeader, Encoding.UTF8.GetBytes(source.Offset.Value.ToString(CultureInfo.InvariantCulture)));
        return new Message<byte[]?, byte[]?>
        {
            Key = source.Message.Key,
            Value = source.Message.Value,
            Headers = headers,
            Timestamp = source.Message.Timestamp,
        };
    }
}
