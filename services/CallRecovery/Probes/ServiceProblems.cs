using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using CallRecovery.Observability;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CallRecovery.Probes;

/// <summary>Why a replica cannot do its work right now, although its loops run: each makes it not ready, with the reason.</summary>
public enum ServiceProblem
{
    /// <summary>Redis refuses writes (full, persistence failing, a permission taken away, a replica): nothing can be decided or recorded.</summary>
    RedisRefusesWrites,
    /// <summary>The consumer replays the same batch without deciding it (each try fails for a reason that is not Redis or Kafka being away).</summary>
    ConsumerStalled,
    /// <summary>The shared Kafka producer hit a fatal error; it is being built again.</summary>
    ProducerFatal,
    /// <summary>The dead-letter topic cannot be written (a permission, a missing topic): batches with unusable events wait.</summary>
    DeadLettersUnwritable,
    /// <summary>An outbox has waited for Kafka longer than the stall timeout while Kafka takes nothing.</summary>
    OutboxStalled,
    /// <summary>The outboxes hold more than their bound: consumption pauses until they drain (nothing is dropped).</summary>
    OutboxFull,
    /// <summary>Writes are not durable in the configured durability mode (too few replicas acknowledge, or the append-only file is not written through).</summary>
    NotDurable,
}

/// <summary>
/// The problems a replica has now, each with its reason (the service's words: never data). The code that meets a
/// problem reports it and clears it when the work goes through again; readiness fails while any is set, a log line
/// says when one starts and ends, and a gauge per problem shows it.
/// </summary>
public sealed partial class ServiceProblems : IHealthCheck
{
    private readonly ConcurrentDictionary<ServiceProblem, (string Reason, long SeenAt)> _current = new();
    private readonly TimeProvider _time;
    private readonly ILogger<ServiceProblems> _logger;
    private readonly Counter<long> _starts;

    public ServiceProblems(CallRecoveryTelemetry telemetry, TimeProvider time, ILogger<ServiceProblems> logger)
    {
        _time = time;
        _logger = logger;
        telemetry.Meter.CreateObservableGauge("callrecovery.readiness.problems", () => Enum.GetValues<ServiceProblem>()
            .Select(p => new Measurement<int>(_current.ContainsKey(p) ? 1 : 0, new KeyValuePair<string, object?>("callrecovery.problem", p.ToString()))),
            "{problem}", "Why the replica is not ready (1 while the problem lasts), by problem.");
        _starts = telemetry.Meter.CreateCounter<long>("callrecovery.readiness.problem.starts", "{problem}",
            "Times a problem made the replica not ready, by problem (a short one shows here when the gauge missed it).");
    }

    /// <summary>The problems now, each with its reason.</summary>
    public IReadOnlyDictionary<ServiceProblem, string> Current => _current.ToDictionary(p => p.Key, p => p.Value.Reason);

    /// <summary>Whether the problem is on now, and why.</summary>
    public bool TryGet(ServiceProblem problem, out string reason)
    {
        var on = _current.TryGetValue(problem, out var entry);
        reason = on ? entry.Reason : string.Empty;
        return on;
    }

    /// <summary>The problem is there (again): logged when it starts or its reason changes.</summary>
    public void Report(ServiceProblem problem, string reason)
    {
        var before = _current.TryGetValue(problem, out var known) ? known.Reason : null;
        _current[problem] = (reason, _time.GetTimestamp());
        if (before is null)
        {
            _starts.Add(1, new KeyValuePair<string, object?>("callrecovery.problem", problem.ToString()));
        }

        if (before != reason)
        {
            LogStarted(_logger, problem, reason);
        }
    }

    /// <summary>The work that met the problem went through.</summary>
    public void Clear(ServiceProblem problem)
    {
        if (_current.TryRemove(problem, out _))
        {
            LogEnded(_logger, problem);
        }
    }

    /// <summary>
    /// A probe went through although some work may still meet the problem (a probe writes less than the work does):
    /// clears it only if no work reported it within <paramref name="quiet"/>.
    /// </summary>
    public void ClearUnlessSeenWithin(ServiceProblem problem, TimeSpan quiet)
    {
        if (_current.TryGetValue(problem, out var known) && _time.GetElapsedTime(known.SeenAt) > quiet)
        {
            Clear(problem);
        }
    }

    /// <summary>A Redis failure met by some work: if it says Redis refuses writes, that is the replica's problem until writes go through again.</summary>
    public void SawRedis(Exception e)
    {
        if (TransientErrors.IsInfrastructure(e))
        {
            Report(ServiceProblem.RedisRefusesWrites, "Redis refuses writes: " + TransientErrors.Describe(e));
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_current.IsEmpty
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy(string.Join("; ", _current.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value.Reason}"))));

    [LoggerMessage(EventId = 5101, Level = LogLevel.Error, Message = "Not ready: {Problem}: {Reason}")]
    private static partial void LogStarted(ILogger logger, ServiceProblem problem, string reason);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "{Problem} is over")]
    private static partial void LogEnded(ILogger logger, ServiceProblem problem);
}
