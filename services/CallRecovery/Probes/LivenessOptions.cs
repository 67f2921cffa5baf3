using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Probes;

/// <summary>When a background loop counts as wedged. Bound from the "Liveness" section.</summary>
public sealed class LivenessOptions
{
    public const string Section = "Liveness";

    /// <summary>
    /// A loop (consume, dispatch, sweep) that has made no progress for this long turns /health/live red.
    /// Longer than any single wait inside a loop (a Kafka publish times out after 30 s). Default 2 min.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Longest wait before a loop that failed unexpectedly starts again (backoff grows up to it). Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan MaxRestartDelay { get; set; } = TimeSpan.FromSeconds(10);
}
