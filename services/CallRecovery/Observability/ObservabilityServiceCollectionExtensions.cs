namespace CallRecovery.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>The service's telemetry: one ActivitySource, one Meter.</summary>
    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddSingleton<CallRecoveryTelemetry>();
        return services;
    }
}
