using Confluent.Kafka;

namespace CallRecovery.Kafka;

public static class KafkaServiceCollectionExtensions
{
    /// <summary>Kafka: options (validated at start) and the one idempotent producer shared by dead letters and outcomes.</summary>
    public static IServiceCollection AddKafka(this IServiceCollection services)
    {
        services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.EffectiveInputTopics.All(t => t.Length > 0), "Kafka:InputTopics must not contain empty names.")
            .Validate(o => !o.EffectiveInputTopics.Contains(o.DeadLetterTopic), "Kafka:DeadLetterTopic must differ from the input topics.")
            .ValidateOnStart();
        services.AddSingleton<KafkaProducer>();
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
}
