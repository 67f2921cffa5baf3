using System.Globalization;
using System.Text;
using CallRecovery.Kafka;
using CallRecovery.Policy;
using Confluent.Kafka;

namespace CallRecovery.Ingest;

/// <summary>What a redrive would make of one dead letter under the configuration in force now.</summary>
public enum RedriveVerdict
{
    /// <summary>The event reads as valid now: republished, the service decides it (once: a report decided before stays decided).</summary>
    WouldDecide,

    /// <summary>Still not a usable event: republished, it would only be dead-lettered again, so it is not.</summary>
    StillInvalid,

    /// <summary>The dead letter is not the whole original (its value or key cut short, its headers left out): it cannot be sent as it was.</summary>
    Incomplete,
}

/// <summary>
/// One dead letter judged for a redrive: the verdict, and its detail (the error code and message the reader gives now,
/// or what is missing); for a drop, whether its callback deadline has passed (the service then decides it
/// <c>stale</c>: recorded, no callback). Ids are the event's own when it reads as valid, empty otherwise.
/// </summary>
public sealed record RedriveCheck(RedriveVerdict Verdict, string Code, string Detail, bool PastDeadline = false, string EventId = "", string CallId = "");

/// <summary>What the service wrote on a dead letter: why it was dead-lettered, where from, and whether it holds the whole original.</summary>
public sealed record DeadLetterOrigin(string ErrorCode, string SourceTopic, int? SourcePartition, long? SourceOffset, string? Missing)
{
    public static DeadLetterOrigin Of(Headers? headers)
    {
        string? Text(string name) => headers is not null && headers.TryGetLastBytes(name, out var bytes) && bytes is not null ? Encoding.UTF8.GetString(bytes) : null;

        var missing = Text(DeadLetterPublisher.TruncatedFromHeader) is { } length ? $"the value was cut short (it had {length} bytes)"
            : Text(DeadLetterPublisher.KeyTruncatedFromHeader) is { } keyLength ? $"the key was cut short (it had {keyLength} bytes)"
            : Text(DeadLetterPublisher.HeadersDroppedHeader) is { } count ? $"its {count} original headers were left out"
            : null;
        return new DeadLetterOrigin(
            Text(DeadLetterPublisher.ErrorCodeHeader) ?? string.Empty,
            Text(DeadLetterPublisher.SourceTopicHeader) ?? string.Empty,
            int.TryParse(Text(DeadLetterPublisher.SourcePartitionHeader), NumberStyles.None, CultureInfo.InvariantCulture, out var partition) ? partition : null,
            long.TryParse(Text(DeadLetterPublisher.SourceOffsetHeader), NumberStyles.None, CultureInfo.InvariantCulture, out var offset) ? offset : null,
            missing);
    }
}

/// <summary>
/// Dead letters sent back to the input: each judged with the service's own reader and validation under the configuration
/// in force (so a setting fixed since shows as "would decide"), and rebuilt as the original message: its key, value and
/// headers as they first arrived, without the headers the dead-letter publisher added, plus <see cref="RedriveHeader"/>
/// naming the dead letter it came from. Republishing is safe to repeat: the service decides a report once (by event id),
/// and a redriven report that was dead-lettered is decided in place of its invalid note.
/// </summary>
public sealed class DeadLetterRedrive(NetworkEventReader reader, TimeProvider time, TimeSpan callbackDeadline)
{
    /// <summary>On a redriven event: "&lt;dead-letter partition&gt;/&lt;offset&gt; at &lt;time&gt;", one per redrive.</summary>
    public const string RedriveHeader = "callrecovery-redrive";

    public RedriveCheck Check(Message<byte[]?, byte[]?> letter) => Check(letter, DeadLetterOrigin.Of(letter.Headers));

    /// <summary>As <see cref="Check(Message{byte[], byte[]})"/>, with the dead letter's headers already read.</summary>
    public RedriveCheck Check(Message<byte[]?, byte[]?> letter, DeadLetterOrigin origin)
    {
        ArgumentNullException.ThrowIfNull(origin);
        if (origin.Missing is { } missing)
        {
            return new RedriveCheck(RedriveVerdict.Incomplete, "incomplete", missing);
        }

        return reader.Read(Original(letter)) switch
        {
            RejectedEvent rejected => new RedriveCheck(RedriveVerdict.StillInvalid, rejected.ErrorCode, rejected.Message),
            DropReported { Drop: var drop } => new RedriveCheck(RedriveVerdict.WouldDecide, string.Empty, "a drop",
                drop.DropTime + callbackDeadline <= time.GetUtcNow(), drop.EventId, drop.CallId),
            var valid => new RedriveCheck(RedriveVerdict.WouldDecide, string.Empty, "a network event", EventId: valid.EventId, CallId: valid.CallId),
        };
    }

    /// <summary>The topic a dead letter goes back to: the one it came from, or the first input topic when it does not say.</summary>
    public static string DestinationOf(DeadLetterOrigin origin, KafkaOptions options) =>
        origin.SourceTopic.Length > 0 ? origin.SourceTopic : options.EffectiveInputTopics[0];

    /// <summary>The original message, as the service first read it.</summary>
    public static Message<byte[]?, byte[]?> Original(Message<byte[]?, byte[]?> letter)
    {
        var headers = new Headers();
        foreach (var header in letter.Headers ?? [])
        {
            if (!DeadLetterPublisher.OwnHeaders.Contains(header.Key))
            {
                headers.Add(header.Key, header.GetValueBytes());
            }
        }

        return new Message<byte[]?, byte[]?> { Key = letter.Key, Value = letter.Value, Headers = headers };
    }

    /// <summary>The message to republish: the original, and where and when it was redriven from.</summary>
    public static Message<byte[]?, byte[]?> Redriven(ConsumeResult<byte[]?, byte[]?> letter, DateTimeOffset at)
    {
        var message = Original(letter.Message);
        message.Headers.Add(RedriveHeader, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{letter.Partition.Value}/{letter.Offset.Value} at {at.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}")));
        return message;
    }
}
