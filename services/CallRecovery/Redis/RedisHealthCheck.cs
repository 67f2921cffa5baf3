using CallRecovery.Probes;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// Ready only while Redis answers, takes a write (a script writing a hash with a TTL, as the service's own writes
/// do: refused when Redis is full, its persistence fails, a permission is taken away or it is a replica) and the
/// writes are durable in the configured mode. Degraded while the last batch met a Redis problem.
/// </summary>
public sealed class RedisHealthCheck(
    IConnectionMultiplexer redis,
    DependencyHealth health,
    ServiceProblems problems,
    DurabilityBarrier durability,
    IOptions<RedisOptions> options) : IHealthCheck
{
    private static readonly LuaScript Probe = LuaScript.Prepare(
        "redis.call('HSET', @key, 'at', @at) redis.call('PEXPIRE', @key, 60000) return 1");

    /// <summary>How long after work last met "Redis refuses writes" a probe that gets through may clear it.</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(10);

    private readonly RedisKey _probeKey = RedisKeys.For(options.Value).Global($"probe:{Guid.NewGuid():N}");

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var db = redis.GetDatabase();
            await db.ScriptEvaluateAsync(Probe, new { key = _probeKey, at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() })
                .WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            problems.ClearUnlessSeenWithin(ServiceProblem.RedisRefusesWrites, Quiet);
            await durability.WaitAsync().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or HeldBackException)
        {
            problems.SawRedis(e);
            // Generic on purpose: health output is read by anyone who can reach the port.
            return HealthCheckResult.Unhealthy(TransientErrors.Describe(e));
        }

        return health.RedisProblem is { } problem ? HealthCheckResult.Degraded("Redis: " + problem) : HealthCheckResult.Healthy();
    }
}
