using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using CallRecovery.Kafka;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Probes;

namespace CallRecovery.Ingest;

/// <summary>
/// Sends unusable events to the dead-letter topic: key, value and headers as they arrived, plus headers that
/// say what was wrong and where the message came from. Awaits the broker's acknowledgement, so the source
/// offset is only stored once the dead letter is safe. A dead letter always fits: a value too large for the
/// producer's (or the broker's) record limit keeps its first bytes, and <see cref="TruncatedFromHeader"/> gives
/// the original length.
/// </summary>
public sealed class DeadLetterPublisher(KafkaProducer producer, IOptions<KafkaOptions> options, ServiceProblems problems, CallRecoveryTelemetry telemetry)
{
    public const string ErrorCodeHeader = "dlq-error-code";
    public const string ErrorMessageHeader = "dlq-error-message";
    public const string SourceTopicHeader = "dlq-source-topic";
    public const string SourcePartitionHeader = "dlq-source-partition";
    public const string SourceOffsetHeader = "dlq-source-offset";
    public const string TruncatedFromHeader = "dlq-truncated-from";
    public const string KeyTruncatedFromHeader = "dlq-key-truncated-from";
    public const string HeadersDroppedHeader = "dlq-headers-dropped";

    /// <summary>Every header this publisher adds (none of which the original had): a redrive takes them off.</summary>
    public static readonly IReadOnlySet<string> OwnHeaders = new HashSet<string>(StringComparer.Ordinal)
    {
        ErrorCodeHeader, ErrorMessageHeader, SourceTopicHeader, SourcePartitionHeader, SourceOffsetHeader, TruncatedFromHeader, KeyTruncatedFromHeader, HeadersDroppedHeader,
    };

    /// <summary>Room left in a record for our own headers and Kafka's record overhead.</summary>
    private const int Overhead = 2048;
    private const int MaxKeyBytes = 1024;

    private readonly string _topic = options.Value.DeadLetterTopic;
    private readonly int _maxRecordBytes = MaxRecordBytes(options.Value);

    public async Task PublishAsync(IReadOnlyList<(ConsumeResult<byte[]?, byte[]?> Source, RejectedEvent Rejection)> rejects)
    {
        if (rejects.Count == 0)
        {
            return;
        }

        await Task.WhenAll(rejects.Select(r => PublishOneAsync(r.Source, r.Rejection))).ConfigureAwait(false);
        foreach (var (_, rejection) in rejects)
        {
            telemetry.DeadLettered(rejection.ErrorCode);
        }
    }

    private async Task PublishOneAsync(ConsumeResult<byte[]?, byte[]?> source, RejectedEvent rejection)
    {
        var limit = _maxRecordBytes;
        while (true)
        {
            try
            {
                await producer.ProduceAsync(_topic, DeadLetter(source, rejection, limit)).ConfigureAwait(false);
                problems.Clear(ServiceProblem.DeadLettersUnwritable);
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (Unwritable(e.Error.Code))
            {
                // Not the event's fault: the topic refuses us. The batch waits (nothing committed) until it takes it.
                problems.Report(ServiceProblem.DeadLettersUnwritable, $"the dead-letter topic cannot be written ({e.Error.Code})");
                throw new KafkaException(new Error(e.Error.Code, "the dead-letter topic cannot be written", isFatal: false));
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code is ErrorCode.MsgSizeTooLarge && limit > Overhead)
            {
                // The broker's (or topic's) limit is lower than ours: keep less of the original and try again.
                limit = Math.Max(Overhead, limit / 8);
            }
        }
    }

    /// <summary>Errors that say the topic itself refuses us (a permission, a topic that does not exist), not the record.</summary>
    private static bool Unwritable(ErrorCode code) => code is ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed
        or ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic or ErrorCode.Local_UnknownPartition or ErrorCode.SaslAuthenticationFailed;

    /// <summary>The dead-letter record, within <paramref name="limit"/> bytes.</summary>
    internal static Message<byte[]?, byte[]?> DeadLetter(ConsumeResult<byte[]?, byte[]?> source, RejectedEvent rejection, int limit)
    {
        var budget = limit - Overhead;
        var headers = new Headers();
        var key = source.Message.Key;
        if (key is { Length: > MaxKeyBytes })
        {
            headers.Add(KeyTruncatedFromHeader, Ascii(key.Length));
            key = key[..MaxKeyBytes];
        }

        budget -= key?.Length ?? 0;
        var sourceHeaders = source.Message.Headers ?? [];
        var sourceHeaderBytes = sourceHeaders.Sum(h => h.Key.Length + (h.GetValueBytes()?.Length ?? 0) + 16);
        if (sourceHeaderBytes <= budget / 4)
        {
            foreach (var header in sourceHeaders)
            {
                headers.Add(header.Key, header.GetValueBytes());
            }

            budget -= sourceHeaderBytes;
        }
        else
        {
            headers.Add(HeadersDroppedHeader, Ascii(sourceHeaders.Count));
        }

        var value = source.Message.Value;
        if (value is not null && value.Length > Math.Max(0, budget))
        {
            headers.Add(TruncatedFromHeader, Ascii(value.Length));
            value = value[..Math.Max(0, budget)];
        }

        headers.Add(ErrorCodeHeader, Encoding.UTF8.GetBytes(rejection.ErrorCode));
        headers.Add(ErrorMessageHeader, Encoding.UTF8.GetBytes(rejection.Message));
        headers.Add(SourceTopicHeader, Encoding.UTF8.GetBytes(source.Topic));
        headers.Add(SourcePartitionHeader, Ascii(source.Partition.Value));
        headers.Add(SourceOffsetHeader, Ascii(source.Offset.Value));
        return new Message<byte[]?, byte[]?>
        {
            Key = key,
            Value = value,
            Headers = headers,
            Timestamp = source.Message.Timestamp,
        };
    }

    /// <summary>The producer's record limit: librdkafka's message.max.bytes (1,000,000 unless configured).</summary>
    private static int MaxRecordBytes(KafkaOptions options) =>
        options.Producer.TryGetValue("message.max.bytes", out var configured) && int.TryParse(configured, NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes) && bytes > Overhead * 2
            ? bytes
            : 1_000_000;

    private static byte[] Ascii(long number) => Encoding.ASCII.GetBytes(number.ToString(CultureInfo.InvariantCulture));
}
