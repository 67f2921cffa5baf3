namespace CallRecovery.Probes;

/// <summary>
/// What the consume loop last learnt about its dependencies. Readiness reads it; the loop writes it when an
/// operation fails or succeeds, and Kafka's statistics tell whether any broker is up.
/// </summary>
public sealed class DependencyHealth
{
    private volatile string? _redisProblem;
    private volatile string? _kafkaProblem;

    public string? RedisProblem => _redisProblem;

    public string? KafkaProblem => _kafkaProblem;

    public void RedisFailed(string problem) => _redisProblem = problem;

    public void RedisWorks() => _redisProblem = null;

    public void KafkaFailed(string problem) => _kafkaProblem = problem;

    public void KafkaWorks() => _kafkaProblem = null;
}
