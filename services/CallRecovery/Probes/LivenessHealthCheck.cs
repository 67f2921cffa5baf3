using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace CallRecovery.Probes;

/// <summary>Alive while every background loop keeps beating. Says which loop is stuck, never any data.</summary>
public sealed class LivenessHealthCheck(LoopHeartbeats heartbeats, IOptions<LivenessOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stalled = heartbeats.StalledLongerThan(options.Value.StallTimeout);
        return Task.FromResult(stalled.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("No progress: " + string.Join(", ", stalled.Select(s => $"{s.Loop} for {s.Silent.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s"))));
    }
}
