using System.Globalization;
using CallRecovery.Ingest;
using Confluent.Kafka;

namespace CallRecovery.Redrive;

/// <summary>Source offsets, both ends included; a missing end is open.</summary>
internal sealed record OffsetRange(long? From, long? To)
{
    public bool Contains(long offset) => offset >= (From ?? long.MinValue) && offset <= (To ?? long.MaxValue);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{From}-{To}");
}

/// <summary>Which dead letters a run is about: every given condition must hold (no condition: every dead letter).</summary>
internal sealed record RedriveFilter(DateTimeOffset? Since, DateTimeOffset? Until, IReadOnlyList<string> ErrorCodes, IReadOnlyList<int> SourcePartitions, OffsetRange? SourceOffsets)
{
    public bool Matches(ConsumeResult<byte[]?, byte[]?> letter, DeadLetterOrigin origin)
    {
        if (Since is not null || Until is not null)
        {
            // The dead letter keeps the original event's Kafka timestamp.
            var timestamp = letter.Message.Timestamp;
            if (timestamp.Type == TimestampType.NotAvailable)
            {
                return false;
            }

            var at = timestamp.UtcDateTime;
            if ((Since is { } since && at < since.UtcDateTime) || (Until is { } until && at >= until.UtcDateTime))
            {
                return false;
            }
        }

        return (ErrorCodes.Count == 0 || ErrorCodes.Contains(origin.ErrorCode, StringComparer.Ordinal))
            && (SourcePartitions.Count == 0 || (origin.SourcePartition is { } partition && SourcePartitions.Contains(partition)))
            && (SourceOffsets is null || (origin.SourceOffset is { } offset && SourceOffsets.Contains(offset)));
    }

    /// <summary>The filters in words, for the report.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (Since is { } since)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"since {since.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}"));
        }

        if (Until is { } until)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"until {until.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}"));
        }

        if (ErrorCodes.Count > 0)
        {
            parts.Add("error code " + string.Join(" or ", ErrorCodes));
        }

        if (SourcePartitions.Count > 0)
        {
            parts.Add("source partition " + string.Join(" or ", SourcePartitions.Select(p => p.ToString(CultureInfo.InvariantCulture))));
        }

        if (SourceOffsets is { } offsets)
        {
            parts.Add("source offsets " + offsets);
        }

        return parts.Count == 0 ? "none (every dead letter)" : string.Join(", ", parts);
    }
}
