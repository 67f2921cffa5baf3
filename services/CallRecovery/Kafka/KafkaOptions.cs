using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Kafka;

/// <summary>Kafka connection, topics and consumer tuning. Bound from the "Kafka" section.</summary>
public sealed class KafkaOptions
{
    public const string Section = "Kafka";

    /// <summary>Brokers to bootstrap from, "host:port,host:port". Required.</summary>
    [Required(ErrorMessage = "Kafka:BootstrapServers is required (e.g. kafka-0:9092); set it in appsettings or as the environment variable Kafka__BootstrapServers.")]
    public string BootstrapServers { get; set; } = string.Empty;

    /// <summary>Consumer group shared by all replicas. Default "callrecovery".</summary>
    [Required]
    public string GroupId { get; set; } = "callrecovery";

    /// <summary>Topics carrying network events (call dropped, call connected). Default ["callrecovery.network-events.v1"].</summary>
    public string[]? InputTopics { get; set; }

    /// <summary>Where events that cannot be parsed or fail validation go, bytes untouched, error in headers. Default "callrecovery.network-events.dlq".</summary>
    [Required]
    public string DeadLetterTopic { get; set; } = "callrecovery.network-events.dlq";

    /// <summary>Where recovery progress and outcomes go (billing, CRM, analytics). Default "callrecovery.outcomes.v1".</summary>
    [Required]
    public string OutcomeTopic { get; set; } = "callrecovery.outcomes.v1";

    /// <summary>Where the updates of recoveries run in shadow go (Rollout): never the outcome topic billing reads. Default "callrecovery.outcomes.shadow.v1".</summary>
    [Required]
    public string ShadowOutcomeTopic { get; set; } = "callrecovery.outcomes.shadow.v1";

    /// <summary>Where compensations for failed recoveries go (CRM's apology, billing's credit). Default "callrecovery.compensations.v1".</summary>
    [Required]
    public string CompensationTopic { get; set; } = "callrecovery.compensations.v1";

    /// <summary>Most events decided in one batch (one set of pipelined Redis rounds). Default 500.</summary>
    [Range(1, 10_000)]
    public int MaxBatchSize { get; set; } = 500;

    /// <summary>
    /// How many batches may be decided at once while the next is read: the consume loop is a pipeline, and offsets
    /// are stored only as far as every batch before them is decided. Default 4.
    /// </summary>
    [Range(1, 64)]
    public int MaxBatchesInFlight { get; set; } = 4;

    /// <summary>How long a batch may wait to fill once it has its first event. Default 20 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:05")]
    public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Longest pause between retries while Redis or Kafka is unreachable. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A consumer that has not joined its group this long after it started reports not ready. Default 60 s.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan GroupJoinTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The outboxes (outcome updates waiting for Kafka, all switches together) hold at most about this many: beyond it
    /// consumption pauses and the replica is not ready until they drain; nothing is dropped (updates of recoveries
    /// already under way still go in). Default 1,000,000.
    /// </summary>
    [Range(1_000, 100_000_000)]
    public long MaxOutboxLength { get; set; } = 1_000_000;

    /// <summary>An outbox that holds updates and has published nothing for this long makes the replica not ready (Kafka takes nothing). Default 2 min.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan OutboxStallTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Further librdkafka consumer settings by their names (e.g. "session.timeout.ms", "security.protocol").</summary>
    public Dictionary<string, string> Consumer { get; set; } = [];

    /// <summary>Further librdkafka producer settings by their names, for the dead-letter and outcome producers.</summary>
    public Dictionary<string, string> Producer { get; set; } = [];

    public IReadOnlyList<string> EffectiveInputTopics => InputTopics is { Length: > 0 } topics ? topics : ["callrecovery.network-events.v1"];
}
