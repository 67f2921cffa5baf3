using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;
using CallRecovery.Probes;

namespace CallRecovery.Redis;

/// <summary>Ready only while Redis answers a PING and the last batch could be decided.</summary>
public sealed class RedisHealthCheck(IConnectionMultiplexer redis, DependencyHealth health) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Generic on purpose: health output is read by anyone who can reach the port.
            return HealthCheckResult.Unhealthy(TransientErrors.Describe(e));
        }

        return health.RedisProblem is { } problem ? HealthCheckResult.Degraded("Redis: " + problem) : HealthCheckResult.Healthy();
    }
}
