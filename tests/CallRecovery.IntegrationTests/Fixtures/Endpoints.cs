using CallRecovery.EmbeddedKafka;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Testcontainers.Kafka;
using Testcontainers.Redis;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>A Redis the tests can stop and start again.</summary>
public interface IRedisEndpoint : IAsyncDisposable
{
    string ConnectionString { get; }

    Task StopAsync();

    Task StartAsync();
}

/// <summary>A Kafka-protocol cluster the tests create topics on.</summary>
public interface IKafkaEndpoint : IAsyncDisposable
{
    string BootstrapServers { get; }

    Task CreateTopicAsync(string name, int partitions);

    /// <summary>Takes the brokers away (connections refused or hanging) until <see cref="StartAsync"/>.</summary>
    Task StopAsync();

    Task StartAsync();
}

/// <summary>
/// Where the real components come from. By default local processes (redis-server, librdkafka's mock
/// cluster); with CALLRECOVERY_TESTCONTAINERS=1 and a Docker engine, Testcontainers' Kafka and Redis.
/// </summary>
public static class Endpoints
{
    public static bool UseContainers => Environment.GetEnvironmentVariable("CALLRECOVERY_TESTCONTAINERS") == "1";

    public static async Task<IRedisEndpoint> StartRedisAsync() =>
        UseContainers ? await ContainerRedis.StartNewAsync() : await RedisServer.StartNewAsync();

    public static async Task<IKafkaEndpoint> StartKafkaAsync() =>
        UseContainers ? await ContainerKafka.StartNewAsync() : new EmbeddedKafka();

    /// <summary>librdkafka's mock cluster whatever the mode: for tests that inject broker faults (request errors, a lost leader).</summary>
    public static EmbeddedKafka StartMockKafka() => new();

    public sealed class EmbeddedKafka : IKafkaEndpoint
    {
        private readonly MockKafkaCluster _cluster = new(brokers: 1);

        /// <summary>Its fault injection.</summary>
        public MockKafkaCluster Cluster => _cluster;

        public string BootstrapServers => _cluster.BootstrapServers;

        public Task CreateTopicAsync(string name, int partitions)
        {
            _cluster.CreateTopic(name, partitions);
            return Task.CompletedTask;
        }

        public Task StopAsync()
        {
            _cluster.SetBrokerDown(1);
            return Task.CompletedTask;
        }

        public Task StartAsync()
        {
            _cluster.SetBrokerUp(1);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _cluster.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ContainerKafka(KafkaContainer container) : IKafkaEndpoint
    {
        public string BootstrapServers => container.GetBootstrapAddress();

        public static async Task<ContainerKafka> StartNewAsync()
        {
            var container = new KafkaBuilder("confluentinc/cp-kafka:7.6.1").Build();
            await container.StartAsync();
            return new ContainerKafka(container);
        }

        public async Task CreateTopicAsync(string name, int partitions)
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
            await admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = partitions, ReplicationFactor = 1 }]);
        }

        public Task StopAsync() => container.PauseAsync();

        public Task StartAsync() => container.UnpauseAsync();

        public ValueTask DisposeAsync() => container.DisposeAsync();
    }

    private sealed class ContainerRedis(RedisContainer container) : IRedisEndpoint
    {
        public string ConnectionString => container.GetConnectionString();

        public static async Task<ContainerRedis> StartNewAsync()
        {
            var container = new RedisBuilder("redis:7.2").Build();
            await container.StartAsync();
            return new ContainerRedis(container);
        }

        // Pausing keeps the mapped port and the data, and cuts Redis off as an outage would.
        public Task StopAsync() => container.PauseAsync();

        public Task StartAsync() => container.UnpauseAsync();

        public ValueTask DisposeAsync() => container.DisposeAsync();
    }
}
