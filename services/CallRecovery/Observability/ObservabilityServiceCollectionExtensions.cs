using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CallRecovery.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>
    /// The service's telemetry: one ActivitySource and one Meter. Metrics are scraped by Prometheus; traces
    /// (and metrics) go over OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT is set, configured by the
    /// standard OTEL_* variables.
    /// </summary>
    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddSingleton<CallRecoveryTelemetry>();
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                if (Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is null)
                {
                    resource.AddService("callrecovery");
                }
            })
            .WithMetrics(metrics => metrics
                .AddMeter(CallRecoveryTelemetry.Name)
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                .AddSource(CallRecoveryTelemetry.Name)
                .AddAspNetCoreInstrumentation(options => options.Filter = context => !context.Request.Path.StartsWithSegments("/health") && !context.Request.Path.StartsWithSegments("/metrics")));
        if (Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is not null)
        {
            telemetry.UseOtlpExporter();
        }

        return services;
    }
}
