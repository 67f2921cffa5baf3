using System.Globalization;
using System.Text;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using CallRecovery.EmbeddedKafka;
using CallRecovery.FaultMatrix;
using Confluent.Kafka;
using Google.Protobuf;

namespace CallRecovery.Benchmark;

/// <summary>
/// What every phase shares: librdkafka's mock cluster (in this process), one redis-server (append-only; each service
/// phase sets its fsync policy to what its durability mode needs) and an idempotent producer that publishes drops. Each phase gets its own topics,
/// its own consumer group and its own Redis key prefix, so phases do not see each other's data.
/// </summary>
public sealed class Rig : IDisposable
{
    /// <summary>Partitions of every backlog topic: 12 keeps 200,000 drops (about 200 bytes each) under the mock's 5 MiB a partition.</summary>
    public const int Partitions = 12;

    private readonly string _directory;
    private readonly IProducer<byte[], byte[]> _producer;
    private long _numbers;
    private long _failed;

    private Rig(MockKafkaCluster kafka, RedisNode redis, string directory)
    {
        _directory = directory;
        Kafka = kafka;
        Redis = redis;
        _producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            EnableIdempotence = true,
            LingerMs = 5,
            BatchSize = 1_000_000,
            QueueBufferingMaxMessages = 1_000_000,
        }).SetLogHandler((_, _) => { }).Build();
    }

    public MockKafkaCluster Kafka { get; }

    public RedisNode Redis { get; }

    public string RedisConnectionString => $"127.0.0.1:{Redis.Port}";

    /// <summary>Drops whose delivery the broker refused (must stay 0).</summary>
    public long FailedDeliveries => Interlocked.Read(ref _failed);

    public static async Task<Rig> StartAsync()
    {
        BundledLibrdkafka.Load();
        var kafka = new MockKafkaCluster();
        var directory = Directory.CreateTempSubdirectory("callrecovery-benchmark-").FullName;
        var redis = new RedisNode(directory, appendFsync: "everysec");
        await redis.StartAsync();
        return new Rig(kafka, redis, directory);
    }

    /// <summary>Sets redis-server's append-only fsync policy (always: every write on disk before it is answered).</summary>
    public async Task AppendFsyncAsync(string policy)
    {
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"{RedisConnectionString},allowAdmin=true");
        await admin.GetServer(admin.GetEndPoints()[0]).ConfigSetAsync("appendfsync", policy);
    }

    /// <summary>Input, dead-letter, outcome and compensation topics for one phase.</summary>
    public PhaseTopics CreateTopics(string phase)
    {
        var topics = new PhaseTopics($"bench.{phase}.events", $"bench.{phase}.dlq", $"bench.{phase}.outcomes", $"bench.{phase}.compensations");
        Kafka.CreateTopic(topics.Input, Partitions);
        Kafka.CreateTopic(topics.DeadLetter, 1);
        Kafka.CreateTopic(topics.Outcomes, 6);
        Kafka.CreateTopic(topics.Compensations, 6);
        return topics;
    }

    /// <summary>Cells and switching nodes the drops are spread over, as a national network's are (outage guard on: no incident).</summary>
    public const int Cells = 50_000;

    /// <inheritdoc cref="Cells"/>
    public const int Nodes = 1_000;

    /// <summary>
    /// Queues one eligible drop (<see cref="EligibleDrops"/>) dropped now; returns its call id. Spread over
    /// <see cref="Cells"/> cells (in areas of 256) and <see cref="Nodes"/> nodes, or from <paramref name="servingCell"/>
    /// on one node when given (an outage).
    /// </summary>
    public string Publish(string topic, string callId, string servingCell = "")
    {
        var n = Interlocked.Increment(ref _numbers);
        var (cell, node) = servingCell.Length > 0
            ? (servingCell, "msc-bench-1")
            : (string.Create(CultureInfo.InvariantCulture, $"234-15-{n % Cells / 256:x4}-{n % Cells % 256:x2}"), string.Create(CultureInfo.InvariantCulture, $"msc-bench-{n % Nodes}"));
        PublishEvent(topic, callId, EligibleDrops.Create(callId, n, DateTimeOffset.UtcNow, node, cell));
        return callId;
    }

    /// <summary>Queues any network event under a key.</summary>
    public void PublishEvent(string topic, string key, NetworkEvent networkEvent)
    {
        var message = new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(key), Value = networkEvent.ToByteArray() };
        while (true)
        {
            try
            {
                _producer.Produce(topic, message, report =>
                {
                    if (report.Error.IsError)
                    {
                        Interlocked.Increment(ref _failed);
                    }
                });
                return;
            }
            catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                // The local queue is full: serve delivery reports until there is room.
                _producer.Poll(TimeSpan.FromMilliseconds(20));
            }
        }
    }

    /// <summary>Waits until every queued drop is acknowledged by the broker.</summary>
    public void Flush() => _producer.Flush(TimeSpan.FromMinutes(2));

    /// <summary>Messages the mock broker no longer holds at the start of the topic (evicted): a backlog must lose none.</summary>
    public long Evicted(string topic)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = Kafka.BootstrapServers, GroupId = "bench.watermarks" })
            .SetLogHandler((_, _) => { }).Build();
        return Enumerable.Range(0, Partitions)
            .Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).Low.Value);
    }

    public void Dispose()
    {
        _producer.Dispose();
        Redis.Kill();
        Kafka.Dispose();
        OwnedProcesses.KillAll();
        Directory.Delete(_directory, recursive: true);
    }
}

public sealed record PhaseTopics(string Input, string DeadLetter, string Outcomes, string Compensations);
