namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>One Kafka and one Redis for a whole test collection; every test isolates itself by topic, group and key prefix.</summary>
public sealed class Infrastructure : IAsyncLifetime
{
    private int _scenarios;

    public IKafkaEndpoint Kafka { get; private set; } = null!;

    public IRedisEndpoint Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Kafka = await Endpoints.StartKafkaAsync();
        Redis = await Endpoints.StartRedisAsync();
    }

    public async Task DisposeAsync()
    {
        await Redis.DisposeAsync();
        await Kafka.DisposeAsync();
    }

    /// <summary>A fresh input topic, dead-letter topic, group id and Redis key prefix.</summary>
    public async Task<Scenario> NewScenarioAsync(int partitions = 4, IRedisEndpoint? redis = null, IKafkaEndpoint? kafka = null)
    {
        var id = $"t{Interlocked.Increment(ref _scenarios)}-{Guid.NewGuid():N}"[..20];
        kafka ??= Kafka;
        var scenario = new Scenario(id, kafka, redis ?? Redis) { InputPartitions = partitions };
        await kafka.CreateTopicAsync(scenario.InputTopic, partitions);
        await kafka.CreateTopicAsync(scenario.DeadLetterTopic, 1);
        await kafka.CreateTopicAsync(scenario.OutcomeTopic, 2);
        await kafka.CreateTopicAsync(scenario.CompensationTopic, 2);
        await kafka.CreateTopicAsync(scenario.ShadowOutcomeTopic, 2);
        return scenario;
    }
}

[CollectionDefinition(Name)]
public sealed class RealInfrastructure : ICollectionFixture<Infrastructure>
{
    public const string Name = "real Kafka and Redis";
}
