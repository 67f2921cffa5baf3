using Microsoft.Extensions.Compliance.Redaction;
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
        // Log parameters classified as personal data go through their redactor; anything else classified is erased.
        services.AddRedaction(redaction => redaction
            .SetRedactor<SubscriberNumberRedactor>(PersonalData.SubscriberNumber)
            .SetFallbackRedactor<ErasingRedactor>());
        services.AddLogging(logging => logging
            .EnableRedaction()
            // These two write the raw request path (a subscriber number in /v1/subscribers/{number}/...) at any
            // level up to Debug; the more specific rule wins over "Default", so raising the level keeps them quiet.
            .AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning)
            .AddFilter("Microsoft.AspNetCore.Routing.Matching", LogLevel.Warning));
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
                // The runtime's own meter (.NET 9+): GC, allocations, thread pool, CPU, exceptions; no labels of ours.
                .AddMeter("System.Runtime")
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                .AddSource(CallRecoveryTelemetry.Name)
                .AddAspNetCoreInstrumentation(options =>
                {
                    options.Filter = context => !context.Request.Path.StartsWithSegments("/health") && !context.Request.Path.StartsWithSegments("/metrics");
                    // A raw path can carry a subscriber number (/v1/subscribers/+44.../opt-out): spans carry the route template instead.
                    options.EnrichWithHttpResponse = (activity, response) => activity.SetTag("url.path", RouteOf(response.HttpContext));
                    options.EnrichWithHttpRequest = (activity, _) => activity.SetTag("url.path", null);
                }));
        if (Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is not null)
        {
            telemetry.UseOtlpExporter();
        }

        return services;
    }

    /// <summary>The matched route's template (numbers as {number}), or the gRPC method path, never the raw request path.</summary>
    internal static string RouteOf(HttpContext context) =>
        context.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } template } ? template : "(unmatched)";
}
