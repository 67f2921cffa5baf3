namespace CallRecovery.Outcomes;

public static class OutcomesServiceCollectionExtensions
{
    /// <summary>Outcome publishing to Kafka (on the shared idempotent producer).</summary>
    public static IServiceCollection AddOutcomes(this IServiceCollection services)
    {
        services.AddSingleton<OutcomePublisher>();
        return services;
    }
}
