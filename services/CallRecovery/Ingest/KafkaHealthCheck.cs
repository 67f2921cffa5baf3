using CallRecovery.Kafka;
using CallRecovery.Probes;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace CallRecovery.Ingest;

/// <summary>
/// Degraded (still ready) while no Kafka broker is reachable, as the consumer last saw it; not ready while the
/// consumer has not joined its group: a consumer that has not joined within <see cref="KafkaOptions.GroupJoinTimeout"/> (a librdkafka that
/// cannot take part in the group protocol, a group coordinator that never answers) decides nothing, and must not
/// look ready.
/// </summary>
public sealed class KafkaHealthCheck(DependencyHealth health, IOptions<KafkaOptions> options, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (health.KafkaProblem is { } problem)
        {
            // Degraded, still ready: switches must be able to reach this replica, and reports, acknowledgements,
            // dispatch and expiry need only Redis (outcome updates wait in the outbox).
            return Task.FromResult(HealthCheckResult.Degraded("Kafka: " + problem));
        }

        if (!health.GroupJoined && health.ConsumerSince is { } since && time.GetElapsedTime(since) > options.Value.GroupJoinTimeout)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"Kafka: the consumer has not joined group {options.Value.GroupId} within {options.Value.GroupJoinTimeout}"));
        }

        return Task.FromResult(HealthCheckResult.Healthy());
    }
}
