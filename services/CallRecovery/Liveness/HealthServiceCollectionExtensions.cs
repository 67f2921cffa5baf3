namespace CallRecovery.Liveness;

public static class HealthServiceCollectionExtensions
{
    /// <summary>Background-loop supervision and the liveness check built on the loops' heartbeats.</summary>
    public static IServiceCollection AddLoopSupervision(this IServiceCollection services)
    {
        services.AddOptions<LivenessOptions>().BindConfiguration(LivenessOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LoopHeartbeats>();
        services.AddSingleton<LoopSupervisor>();
        services.AddHealthChecks().AddCheck<LivenessHealthCheck>("loops", tags: [LiveTag]);
        return services;
    }

    /// <summary>Checks that decide /health/live.</summary>
    public const string LiveTag = "live";
}
