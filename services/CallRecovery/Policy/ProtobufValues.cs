using Google.Protobuf.WellKnownTypes;

namespace CallRecovery.Policy;

/// <summary>
/// Range checks for protobuf's well-known types. Their conversions to .NET types throw on values outside the
/// range the protobuf specification allows (negative nanos, year 10000, …); everything that reads a value from
/// outside checks it here first.
/// </summary>
public static class ProtobufValues
{
    // google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
    private const long MinTimestampSeconds = -62_135_596_800;
    private const long MaxTimestampSeconds = 253_402_300_799;

    // google.protobuf.Duration: about ±10,000 years.
    private const long MaxDurationSeconds = 315_576_000_000;

    public static bool IsValid(Timestamp timestamp) =>
        timestamp.Seconds is >= MinTimestampSeconds and <= MaxTimestampSeconds && timestamp.Nanos is >= 0 and <= 999_999_999;

    /// <summary>A valid duration that is not negative (talk times, waits).</summary>
    public static bool IsValidNonNegative(Duration duration) =>
        duration.Seconds is >= 0 and <= MaxDurationSeconds && duration.Nanos is >= 0 and <= 999_999_999
        && duration.Seconds <= (long)TimeSpan.MaxValue.TotalSeconds - 1;
}
