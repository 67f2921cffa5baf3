using OpenTelemetry.Metrics;

namespace CallRecovery.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>The service's telemetry: one ActivitySource, one Meter, exported for Prometheus to scrape.</summary>
    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddSingleton<CallRecoveryTelemetry>();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(CallRecoveryTelemetry.Name)
            .AddPrometheusExporter());
        return services;
    }
}
