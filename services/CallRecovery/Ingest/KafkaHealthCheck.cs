using Microsoft.Extensions.Diagnostics.HealthChecks;
using CallRecovery.Probes;

namespace CallRecovery.Ingest;

/// <summary>Ready only while a Kafka broker is reachable, as the consumer last saw it.</summary>
public sealed class KafkaHealthCheck(DependencyHealth health) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(health.KafkaProblem is { } problem ? HealthCheckResult.Unhealthy("Kafka: " + problem) : HealthCheckResult.Healthy());
}
