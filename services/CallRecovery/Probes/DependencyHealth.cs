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

    private long _consumerSince = long.MinValue;
    private volatile bool _groupJoined;

    /// <summary>Whether the consumer is a steady member of its group, as librdkafka's statistics last said.</summary>
    public bool GroupJoined => _groupJoined;

    /// <summary>When the current consumer started (a timestamp of the service's TimeProvider), or null before any.</summary>
    public long? ConsumerSince => Interlocked.Read(ref _consumerSince) is var since && since != long.MinValue ? since : null;

    /// <summary>
    /// A (new) consumer starts: it has not joined its group yet. The join timer runs from the first consumer since the
    /// group was last joined: a consumer rebuilt again and again without ever joining does not start it afresh.
    /// </summary>
    public void ConsumerStarted(long timestamp)
    {
        var joined = _groupJoined;
        _groupJoined = false;
        if (joined || Interlocked.Read(ref _consumerSince) == long.MinValue)
        {
            Interlocked.Exchange(ref _consumerSince, timestamp);
        }
    }

    /// <summary>Latches: once steady, a rebalance later does not make the consumer look unjoined.</summary>
    public void GroupState(bool joined) => _groupJoined |= joined;
}
