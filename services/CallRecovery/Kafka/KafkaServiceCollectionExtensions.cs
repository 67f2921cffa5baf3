using Confluent.Kafka;
using Microsoft.Extensions.Options;

namespace CallRecovery.Kafka;

public static partial class KafkaServiceCollectionExtensions
{
    /// <summary>Kafka: options (validated at start) and the one idempotent producer shared by dead letters and outcomes.</summary>
    public static IServiceCollection AddKafka(this IServiceCollection services)
    {
        services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.EffectiveInputTopics.All(t => t.Length > 0), "Kafka:InputTopics must not contain empty names.")
            .Validate(o => !o.EffectiveInputTopics.Contains(o.DeadLetterTopic), "Kafka:DeadLetterTopic must differ from the input topics.")
            .ValidateOnStart();
        services.AddSingleton(sp => BuildProducer(
            sp.GetRequiredService<IOptions<KafkaOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("CallRecovery.Kafka.Producer")));
        return services;
    }

    /// <summary>librdkafka speaks syslog levels.</summary>
    public static LogLevel KafkaLogLevel(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical or SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    private static IProducer<byte[]?, byte[]?> BuildProducer(KafkaOptions options, ILogger logger)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = options.BootstrapServers,
            // Idempotent and fully acknowledged: a dead letter or outcome is either safe on the brokers or retried by us.
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            // Shorter than the consumer's max.poll.interval.ms, so a stuck send surfaces as a retry instead of an eviction.
            MessageTimeoutMs = 30_000,
            // A broker that stops answering is given up on (and the request retried) after 10 s, not 60 s.
            SocketTimeoutMs = 10_000,
        };
        foreach (var (key, value) in options.Producer)
        {
            config.Set(key, value);
        }

        // librdkafka's own messages go to the service's log, not raw to stderr.
        return new ProducerBuilder<byte[]?, byte[]?>(config)
            .SetLogHandler((_, message) =>
            {
                var level = KafkaLogLevel(message.Level);
                LogKafkaProducer(logger, level, message.Facility, message.Message);
            })
            .Build();
    }

    [LoggerMessage(EventId = 1010, Message = "librdkafka {Facility}: {Text}")]
    private static partial void LogKafkaProducer(ILogger logger, LogLevel level, string facility, string text);
}
