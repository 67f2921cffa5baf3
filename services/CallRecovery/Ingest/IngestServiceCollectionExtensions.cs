namespace CallRecovery.Ingest;

public static class IngestServiceCollectionExtensions
{
    /// <summary>The Kafka edge: the network-event consumer, its reader, the dead-letter publisher and the consumer's health.</summary>
    public static IServiceCollection AddIngest(this IServiceCollection services)
    {
        services.AddOptions<EventValidationOptions>().BindConfiguration(EventValidationOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ConsumerLag>();
        services.AddSingleton<NetworkEventReader>();
        services.AddSingleton<DeadLetterPublisher>();
        services.AddSingleton<BatchWorker>();
        services.AddHostedService<NetworkEventConsumer>();
        services.AddHealthChecks().AddCheck<KafkaHealthCheck>("kafka", tags: [Probes.ProbesServiceCollectionExtensions.ReadyTag]);
        return services;
    }
}
