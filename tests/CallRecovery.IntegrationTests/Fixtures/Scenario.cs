using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Google.Protobuf;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using CallRecovery.Decisions;
using CallRecovery.Delivery;
using CallRecovery.Outages;
using CallRecovery.Subscribers;
using CallRecovery.Recoveries;
using CallRecovery.Redis;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>One test's own topics, group and key prefix, with ways to publish events and read what the service decided.</summary>
public sealed class Scenario(string id, IKafkaEndpoint kafka, IRedisEndpoint redis) : IAsyncDisposable
{
    private readonly IProducer<byte[]?, byte[]?> _producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
    {
        BootstrapServers = kafka.BootstrapServers,
        EnableIdempotence = true,
        LingerMs = 2,
    }).Build();

    private ConnectionMultiplexer? _redis;

    public string Id { get; } = id;

    public string InputTopic => $"{Id}.events";

    public string DeadLetterTopic => $"{Id}.dlq";

    public string OutcomeTopic => $"{Id}.outcomes";

    public string CompensationTopic => $"{Id}.compensations";

    public string ShadowOutcomeTopic => $"{Id}.outcomes.shadow";

    public string GroupId => $"{Id}.group";

    public string KeyPrefix => Id;

    public IKafkaEndpoint Kafka => kafka;

    public IRedisEndpoint Redis => redis;

    public DecisionKeys DecisionKeys => new(new RedisKeys(KeyPrefix));

    public RecoveryKeys RecoveryKeys => new(new RedisKeys(KeyPrefix));

    public SubscriberKeys SubscriberKeys => new(new RedisKeys(KeyPrefix));

    public OutageKeys OutageKeys => new(new RedisKeys(KeyPrefix));

    public DeliveryKeys DeliveryKeys => new(new RedisKeys(KeyPrefix));

    /// <summary>The service's settings for this scenario, as configuration keys.</summary>
    public Dictionary<string, string?> Settings(string? groupId = null) => new()
    {
        ["Kafka:BootstrapServers"] = kafka.BootstrapServers,
        ["Kafka:GroupId"] = groupId ?? GroupId,
        ["Kafka:InputTopics:0"] = InputTopic,
        ["Kafka:DeadLetterTopic"] = DeadLetterTopic,
        ["Kafka:OutcomeTopic"] = OutcomeTopic,
        ["Kafka:CompensationTopic"] = CompensationTopic,
        ["Kafka:ShadowOutcomeTopic"] = ShadowOutcomeTopic,
        ["Kafka:MaxRetryDelay"] = "00:00:01",
        // Fast group hand-over between test instances.
        ["Kafka:Consumer:session.timeout.ms"] = "6000",
        ["Kafka:Consumer:heartbeat.interval.ms"] = "500",
        ["Kafka:Consumer:statistics.interval.ms"] = "500",
        ["Redis:ConnectionString"] = $"{redis.ConnectionString},connectTimeout=1000,syncTimeout=2000,asyncTimeout=2000",
        ["Redis:KeyPrefix"] = KeyPrefix,
        ["Policy:CoolOff"] = "00:00:00",
        ["Policy:MaxRecoveriesPerWindow"] = "1000",
        ["Switching:DefaultSwitch"] = "switch-a",
        ["Switching:GracePeriod"] = "00:00:00.200",
        ["Switching:AcknowledgementTimeout"] = "00:00:01",
        ["Switching:RejectionBackoff"] = "00:00:00.200",
        ["Switching:PollInterval"] = "00:00:00.050",
        ["Switching:SweepInterval"] = "00:00:00.200",
        // One callback per recovery and no outage guard (every drop here comes from one cell), unless a test turns them on.
        ["Retries:MaxCallbackAttempts"] = "1",
        ["Outage:Enabled"] = "false",
        // Whatever the hour of the run: a retry or a delayed callback at night would end QUIET_HOURS. The quiet-hours
        // tests turn them on with a clock of their own.
        ["QuietHours:Enabled"] = "false",
    };

    /// <summary>
    /// Settings for reports that must be read together while a callback waits: reports published together are read as
    /// one batch (a batch waits 3 s to fill), and a decided callback stays queued for four minutes (longer than a test's
    /// waits), so what cancels it is the reports, never the dispatch step's own checks at its due time, however busy the machine.
    /// </summary>
    public Dictionary<string, string?> ReadTogetherSettings()
    {
        var settings = Settings();
        settings["Switching:GracePeriod"] = "00:04:00";
        settings["Kafka:MaxBatchDelay"] = "00:00:03";
        return settings;
    }

    /// <summary>
    /// Settings for an outage of one cell: incidents at 20 drops of a cell within 30 s (the node never counts), a grace
    /// long enough that the drops decided before the threshold are still queued (not sent) when the incident is
    /// declared, and acknowledgements that wait.
    /// </summary>
    public Dictionary<string, string?> OutageSettings()
    {
        var settings = Settings();
        settings["Outage:Enabled"] = "true";
        settings["Outage:CellThreshold"] = "20";
        settings["Outage:Window"] = "00:00:30";
        settings["Outage:NodeThreshold"] = "100000";
        settings["Switching:GracePeriod"] = "00:00:05";
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        return settings;
    }

    /// <summary>The cell carries traffic again (a CellInService event, now): its outage incident ends.</summary>
    public Task CellBackAsync(string cell) =>
        PublishRawAsync(new NetworkEvent
        {
            CellInService = new CellInService { EventId = "cell-back", ServingCell = cell, At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), SwitchingNode = "msc-lon-1" },
        }.ToByteArray(), cell);

    /// <summary>A drop report, dropped a second before <paramref name="now"/> (the service's clock; real time when not given).</summary>
    public static CallDropped Drop(string callId, string caller, string callee, Party dropped = Party.Caller, string? eventId = null, int q850 = 41, double answeredSeconds = 95, DateTimeOffset? now = null) => new()
    {
        EventId = eventId ?? $"{callId}/{dropped}",
        CallId = callId,
        Caller = caller,
        Callee = callee,
        DroppedParty = dropped,
        ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Q850, Code = q850 },
        AnswerTime = Timestamp.FromDateTimeOffset((now ?? DateTimeOffset.UtcNow).AddSeconds(-answeredSeconds - 1)),
        DropTime = Timestamp.FromDateTimeOffset((now ?? DateTimeOffset.UtcNow).AddSeconds(-1)),
        ServingCell = "234-15-1a2b-0c",
        SwitchingNode = "msc-lon-1",
        AccessTechnology = AccessTechnology.Eutran,
        Reporter = "test",
    };

    /// <summary>A distinct E.164 number per index, so tests do not trip each other's subscriber limits.</summary>
    public string Number(int index) => $"+4477{Math.Abs(Id.GetHashCode(StringComparison.Ordinal)) % 10000:0000}{index:00000}";

    public Task PublishAsync(CallDropped drop, string? key = null) =>
        PublishRawAsync(new NetworkEvent { CallDropped = drop }.ToByteArray(), key ?? drop.CallId);

    public async Task PublishRawAsync(byte[] value, string key, string? contentType = null, int? partition = null, Dictionary<string, string>? headers = null)
    {
        var kafkaHeaders = new Headers();
        if (contentType is not null)
        {
            kafkaHeaders.Add("content-type", Encoding.UTF8.GetBytes(contentType));
        }

        foreach (var (name, text) in headers ?? [])
        {
            kafkaHeaders.Add(name, Encoding.UTF8.GetBytes(text));
        }

        var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value, Headers = kafkaHeaders };
        if (partition is { } p)
        {
            await _producer.ProduceAsync(new TopicPartition(InputTopic, p), message).DefaultTimeout();
        }
        else
        {
            await _producer.ProduceAsync(InputTopic, message).DefaultTimeout();
        }
    }

    public async Task<IDatabase> RedisAsync()
    {
        _redis ??= await ConnectionMultiplexer.ConnectAsync($"{redis.ConnectionString},abortConnect=false");
        return _redis.GetDatabase();
    }

    /// <summary>How many decisions are recorded for a call (one per report).</summary>
    public async Task<long> DecisionCountAsync(string callId) => await (await RedisAsync()).HashLengthAsync(DecisionKeys.CallDecisions(callId));

    public async Task<IReadOnlyList<DecisionRecord>> DecisionsAsync(string callId) =>
        (await (await RedisAsync()).HashValuesAsync(DecisionKeys.CallDecisions(callId))).Select(v => DecisionRecord.FromJson(v.ToString())).ToList();

    public async Task<RecoveryRecord?> RecoveryAsync(string callId)
    {
        var entries = await (await RedisAsync()).HashGetAllAsync(RecoveryKeys.Recovery(callId));
        return entries.Length == 0 ? null : RecoveryRecord.FromFields(entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal));
    }

    public Task PublishAsync(CallConnected connected) =>
        PublishRawAsync(new NetworkEvent { CallConnected = connected }.ToByteArray(), connected.CallId);

    public async Task<string?> RecoveryIdAsync(string callId) => await (await RedisAsync()).HashGetAsync(RecoveryKeys.Recovery(callId), "recoveryId");

    /// <summary>Every message on the dead-letter topic, read from the start by a throwaway consumer.</summary>
    public IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> ReadDeadLetters(int expected) => ReadTopic(DeadLetterTopic, 1, expected);

    /// <summary>How many partitions the input topic has.</summary>
    public int InputPartitions { get; init; } = 1;

    /// <summary>The service group's committed offsets summed over the input topic's partitions (an offset is the count of events before it; none yet counts 0).</summary>
    public long CommittedTotal(string? groupId = null)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = groupId ?? GroupId, EnableAutoCommit = false }).Build();
        var committed = consumer.Committed([.. Enumerable.Range(0, InputPartitions).Select(p => new TopicPartition(InputTopic, p))], TimeSpan.FromSeconds(10));
        return committed.Sum(c => c.Offset.Value < 0 ? 0 : c.Offset.Value);
    }

    /// <summary>
    /// Reads a topic from the start until <paramref name="expected"/> messages arrived, the time limit passed,
    /// or, with <paramref name="quiet"/>, no message arrived for that long ("everything there is").
    /// </summary>
    public IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> ReadTopic(string topic, int partitions, int expected, TimeSpan? quiet = null)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = $"{Id}.reader.{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var results = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + Eventually.Limit;
        var lastArrival = DateTime.UtcNow;
        while (results.Count < expected && DateTime.UtcNow < deadline && (quiet is null || DateTime.UtcNow - lastArrival < quiet))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                results.Add(result);
                lastArrival = DateTime.UtcNow;
            }
        }

        return results;
    }

    public async ValueTask DisposeAsync()
    {
        _producer.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
