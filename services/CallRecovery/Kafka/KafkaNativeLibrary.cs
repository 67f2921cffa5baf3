using CallRecovery.Contracts;
using Confluent.Kafka;

namespace CallRecovery.Kafka;

public static partial class KafkaNativeLibrary
{
    /// <summary>
    /// Loads the librdkafka build that Confluent.Kafka ships, explicitly, whatever else the host has installed,
    /// logs which one, and says no (the service must not start) when none loads or it is older than the version
    /// the service was built with.
    /// </summary>
    public static bool UsesBundledLibrdkafka(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CallRecovery.Kafka.Library");
        string path;
        try
        {
            path = BundledLibrdkafka.Load();
        }
        catch (DllNotFoundException e)
        {
            LogMissing(logger, e.Message);
            return false;
        }

        var loaded = BundledLibrdkafka.Loaded;
        LogLoaded(logger, Library.VersionString, path);
        if (loaded < BundledLibrdkafka.Required)
        {
            LogTooOld(logger, loaded, BundledLibrdkafka.Required);
            return false;
        }

        return true;
    }

    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "librdkafka {Version} loaded from {Path}")]
    private static partial void LogLoaded(ILogger logger, string version, string path);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Critical, Message = "CallRecovery cannot start: librdkafka {Loaded} is loaded, older than {Required} that it was built with (a system librdkafka, e.g. Debian's librdkafka1, was loaded before the bundled one)")]
    private static partial void LogTooOld(ILogger logger, Version loaded, Version required);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Critical, Message = "CallRecovery cannot start: {Problem}")]
    private static partial void LogMissing(ILogger logger, string problem);
}
