using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Ingest;

/// <summary>Limits on what a valid event looks like. Bound from the "Validation" section.</summary>
public sealed class EventValidationOptions
{
    public const string Section = "Validation";

    /// <summary>How far in the future an event time may lie (clock skew between network elements). Default 5 min.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest call we believe: an answer time further before the drop is a contradiction. Default 24 h.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan MaxCallDuration { get; set; } = TimeSpan.FromHours(24);
}
