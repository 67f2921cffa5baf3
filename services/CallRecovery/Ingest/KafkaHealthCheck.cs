using CallRecovery.Kafka;
using CallRecovery.Probes;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace CallRecovery.Ingest;

/// <summary>
/// Ready only while a Kafka broker is reachable, as the consumer last saw it, and once the consumer has joined its
/// group: a consumer that has not joined within <see cref="KafkaOptions.GroupJoinTimeout"/> (a librdkafka that
/// cannot take part in the group protocol, a group coordinator that never answers) decides nothing, and must not
/// look ready.
/// </summary>
public sealed class KafkaHealthCheck(DependencyHealth health, IOptions<KafkaOptions> options, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (health.KafkaProblem is { } problem)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("Kafka: " + problem));
        }

        if (!health.GroupJoined && health.ConsumerSince is { } since && time.GetElapsedTime(since) > options.Value.GroupJoinTimeout)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"Kafka: the consumer has not joined group {options.Value.GroupId} within {options.Value.GroupJoinTimeout}"));
        }

        return Task.FromResult(HealthCheckResult.Healthy());
    }
}
