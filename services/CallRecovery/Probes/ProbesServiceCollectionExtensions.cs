namespace CallRecovery.Probes;

public static class ProbesServiceCollectionExtensions
{
    /// <summary>Liveness and readiness facts: background-loop supervision with heartbeats, and what the edges learnt about Kafka and Redis.</summary>
    public static IServiceCollection AddProbes(this IServiceCollection services)
    {
        services.AddSingleton<DependencyHealth>();
        services.AddOptions<LivenessOptions>().BindConfiguration(LivenessOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LoopHeartbeats>();
        services.AddSingleton<LoopSupervisor>();
        services.AddSingleton<ServiceProblems>();
        services.AddHealthChecks()
            .AddCheck<LivenessHealthCheck>("loops", tags: [LiveTag])
            .AddCheck<ServiceProblems>("work", tags: [ReadyTag]);
        return services;
    }

    /// <summary>Checks that decide /health/live.</summary>
    public const string LiveTag = "live";

    /// <summary>Checks that decide /health/ready.</summary>
    public const string ReadyTag = "ready";
}
