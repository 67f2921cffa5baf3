namespace CallRecovery.Decisions;

public static class DecisionsServiceCollectionExtensions
{
    /// <summary>The decision stage: the decider and its Redis store.</summary>
    public static IServiceCollection AddDecisions(this IServiceCollection services)
    {
        services.AddSingleton<DecisionStore>();
        services.AddSingleton<RecoveryDecider>();
        return services;
    }
}
