namespace CallRecovery.Hosting;

/// <summary>
/// Hooks for the test harnesses (the integration tests, the fault matrix), bound from the "Testing" section. None is
/// set in any deployment; the service warns at start when one is.
/// </summary>
public sealed class TestingOptions
{
    public const string Section = "Testing";

    /// <summary>A file holding how far the service's clock runs ahead of the real one (a TimeSpan, "-" for behind), read again whenever it changes. Default none.</summary>
    public string? ClockOffsetFile { get; set; }

    /// <summary>
    /// A planted defect, to show that the fault matrix fails on it: every first delivery of a callback is sent again at
    /// once, and every acceptance is confirmed whatever the lifecycle decided, so two instances may both place one
    /// callback. Default off.
    /// </summary>
    public bool PlantDoubleSend { get; set; }

    /// <summary>
    /// Where the process dies (as a kill -9 would: no shutdown, nothing flushed) the first time it gets there, for the
    /// crash tests: one of <see cref="CrashPoints.Names"/>. Default none.
    /// </summary>
    public string? CrashAt { get; set; }
}

/// <summary>The places between two steps of a recovery where the crash tests kill the service (<see cref="TestingOptions.CrashAt"/>).</summary>
public sealed partial class CrashPoints(Microsoft.Extensions.Options.IOptions<TestingOptions> options, ILogger<CrashPoints> logger)
{
    /// <summary>A batch's decisions are written; its recoveries are not created yet.</summary>
    public const string Decided = "decided";

    /// <summary>A batch's recoveries are created (settled); not yet queued at their switches.</summary>
    public const string Settled = "settled";

    /// <summary>A command is written to a switch's stream; its acknowledgement not yet in.</summary>
    public const string Sent = "sent";

    /// <summary>An outcome is stored on its recovery; not yet in the outbox for Kafka.</summary>
    public const string OutcomeStored = "outcome-stored";

    public static readonly IReadOnlyList<string> Names = [Decided, Settled, Sent, OutcomeStored];

    private readonly string? _at = options.Value.CrashAt;

    /// <summary>Dies here if this is the configured crash point.</summary>
    public void Reached(string point)
    {
        if (_at is not null && string.Equals(_at, point, StringComparison.Ordinal))
        {
            LogCrashing(point);
            Environment.FailFast($"Testing:CrashAt {point}");
        }
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Critical, Message = "Testing:CrashAt {Point}: the process dies here")]
    private partial void LogCrashing(string point);
}
