using System.CommandLine;
using CallRecovery.EmbeddedKafka;

// Runs a local Kafka-protocol cluster until Ctrl-C: `dotnet run -- --topic events:6 --topic dlq:1`.
var brokers = new Option<int>("--brokers") { Description = "Number of mock brokers.", DefaultValueFactory = _ => 1 };
var topics = new Option<string[]>("--topic") { Description = "Topic to create, as name:partitions (repeatable).", AllowMultipleArgumentsPerToken = true };
var root = new RootCommand("Local Kafka-protocol cluster (librdkafka mock) for tests and the demo.") { brokers, topics };
root.SetAction(async (parse, cancellationToken) =>
{
    using var cluster = new MockKafkaCluster(parse.GetValue(brokers));
    foreach (var spec in parse.GetValue(topics) ?? [])
    {
        var parts = spec.Split(':');
        cluster.CreateTopic(parts[0], parts.Length > 1 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : 1);
    }

    Console.WriteLine(cluster.BootstrapServers);
    try
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
    catch (OperationCanceledException)
    {
        // Ctrl-C: the cluster is destroyed on the way out.
    }

    return 0;
});
return await root.Parse(args).InvokeAsync();
