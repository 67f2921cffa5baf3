namespace CallRecovery.Outcomes;

public static class OutcomesServiceCollectionExtensions
{
    /// <summary>Outcome updates: recorded in each switch's outbox in Redis, drained to Kafka (on the shared idempotent producer).</summary>
    public static IServiceCollection AddOutcomes(this IServiceCollection services)
    {
        services.AddSingleton<OutcomePublisher>();
        services.AddHostedService<OutboxDrain>();
        return services;
    }
}
