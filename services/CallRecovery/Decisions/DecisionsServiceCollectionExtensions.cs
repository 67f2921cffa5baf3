namespace CallRecovery.Decisions;

public static class DecisionsServiceCollectionExtensions
{
    /// <summary>The decision stage: deciding a batch of events (the decider and its Redis store), and subscribers' opt-outs.</summary>
    public static IServiceCollection AddDecisions(this IServiceCollection services)
    {
        services.AddSingleton<DecisionStore>();
        services.AddSingleton<RecoveryDecider>();
        services.AddSingleton<LearnedGrace>();
        services.AddSingleton<OptOuts>();
        return services;
    }
}
