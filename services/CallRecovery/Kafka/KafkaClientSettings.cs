using Confluent.Kafka;

namespace CallRecovery.Kafka;

/// <summary>
/// The librdkafka settings of every Kafka client that speaks for the service (its consumer and producer, and the
/// tools that read and write its topics, such as the dead-letter redrive): our defaults, then whatever
/// <c>Kafka:Consumer:*</c> / <c>Kafka:Producer:*</c> set (security.protocol, sasl.*, ssl.*, ...), so a client the
/// service can build, a tool can build too.
/// </summary>
public static class KafkaClientSettings
{
    /// <summary>The service's consumer settings (its group, committed by librdkafka from the offsets the service stores).</summary>
    public static ConsumerConfig Consumer(KafkaOptions options)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = options.BootstrapServers,
            GroupId = options.GroupId,
            EnableAutoCommit = true,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            StatisticsIntervalMs = 5000,
            // Partitions of a replica that died move within seconds, not librdkafka's default 45 s; a broker that
            // stops answering is given up on after 10 s, not 60 s (what the fault matrix measured; overridable).
            SessionTimeoutMs = 10_000,
            HeartbeatIntervalMs = 1_000,
            SocketTimeoutMs = 10_000,
        };
        foreach (var (key, value) in options.Consumer)
        {
            config.Set(key, value);
        }

        // Not overridable: offsets are stored by us, after the decision is durable; librdkafka commits what we stored.
        config.EnableAutoOffsetStore = false;
        return config;
    }

    /// <summary>The service's producer settings: idempotent and acknowledged by all in-sync replicas.</summary>
    public static ProducerConfig Producer(KafkaOptions options)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = options.BootstrapServers,
            // Idempotent and fully acknowledged: a dead letter or outcome is either safe on the brokers or retried by us.
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            // Shorter than the consumer's max.poll.interval.ms, so a stuck send surfaces as a retry instead of an eviction.
            MessageTimeoutMs = 30_000,
            // A broker that stops answering is given up on (and the request retried) after 10 s, not 60 s.
            SocketTimeoutMs = 10_000,
        };
        foreach (var (key, value) in options.Producer)
        {
            config.Set(key, value);
        }

        return config;
    }
}
