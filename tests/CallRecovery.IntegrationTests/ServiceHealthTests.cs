using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Outcomes;
using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Health follows progress: a replica whose loops run but whose work does not go through (the dead-letter topic
/// refuses it, the producer went fatal, the consumer replays a batch that fails every time, the outboxes do not
/// drain or are over their bound) is not ready, says why in <c>/health/ready</c> and a log line, counts it in a
/// metric, and is ready again by itself once the work goes through. Broker faults come from librdkafka's mock
/// cluster (request errors, a partition without a leader).
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed partial class ServiceHealthTests(Infrastructure infrastructure)
{
    private const short Produce = 0;
    private const int TopicAuthorizationFailed = 29;
    private const int OutOfOrderSequenceNumber = 45;
    private const int InvalidRecord = 87;

    [Fact]
    public async Task A_dead_letter_topic_that_refuses_writes_makes_the_replica_unready_and_the_batch_waits_uncommitted()
    {
        await using var kafka = Endpoints.StartMockKafka();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, kafka: kafka);
        await scenario.PublishRawAsync("not a network event"u8.ToArray(), "garbage");
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1000)));
        // The dead-letter topic refuses the service (its ACL) for a while.
        kafka.Cluster.PushRequestErrors(Produce, [.. Enumerable.Repeat(TopicAuthorizationFailed, 25)]);

        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var http = service.CreateHttpClient();
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Body.Contains("DeadLettersUnwritable: the dead-letter topic cannot be written (TopicAuthorizationFailed)", StringComparison.Ordinal), "not ready, saying why");
        Assert.Equal(0, scenario.CommittedTotal());

        // The permission comes back: the unusable event is dead-lettered once, the batch decided and committed.
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Status == HttpStatusCode.OK, "ready again");
        Assert.Single(scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: 2, quiet: TimeSpan.FromSeconds(2)));
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-0") == 1, "the drop beside it decided");
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 2, "the batch committed");
        Assert.True(ProblemStarts(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "DeadLettersUnwritable") >= 1);
    }

    [Fact]
    public async Task A_producer_in_a_fatal_state_is_built_again_and_what_it_refused_goes_out()
    {
        await using var kafka = Endpoints.StartMockKafka();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, kafka: kafka);
        await scenario.PublishRawAsync("unusable one"u8.ToArray(), "garbage-1");
        await scenario.PublishRawAsync("unusable two"u8.ToArray(), "garbage-2");
        // The broker answers the service's first produce with a sequence error: fatal for an idempotent producer,
        // which then refuses every message for good.
        kafka.Cluster.PushRequestErrors(Produce, OutOfOrderSequenceNumber);

        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var http = service.CreateHttpClient();
        Assert.Equal(2, scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: 2).Count);
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 2, "every event committed");
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Status == HttpStatusCode.OK, "ready");
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.True(ProblemStarts(metrics, "ProducerFatal") >= 1, "the fatal producer is counted");

        // And the producer built again carries on.
        await scenario.PublishRawAsync("unusable three"u8.ToArray(), "garbage-3");
        Assert.Equal(3, scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: 3).Count);
    }

    [Fact]
    public async Task A_consumer_that_replays_a_batch_failing_every_time_is_unready_and_ready_once_it_goes_through()
    {
        await using var kafka = Endpoints.StartMockKafka();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, kafka: kafka);
        await scenario.PublishRawAsync("unusable"u8.ToArray(), "garbage");
        // The broker rejects the dead letter as an invalid record, a failure no retry of the batch gets past: the
        // consumer is built again and replays it, again and again, while its loop runs.
        kafka.Cluster.PushRequestErrors(Produce, [.. Enumerable.Repeat(InvalidRecord, 8)]);
        var settings = scenario.Settings();
        settings["Liveness:MaxRestartDelay"] = "00:00:01";

        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Body.Contains("ConsumerStalled: the consumer replays a batch that fails every time", StringComparison.Ordinal), "not ready, saying the consumer is stalled");
        Assert.Equal(0, scenario.CommittedTotal());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);

        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Status == HttpStatusCode.OK, "ready once the batch goes through");
        Assert.Single(scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: 2, quiet: TimeSpan.FromSeconds(2)));
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 1, "committed");
    }

    [Fact]
    public async Task Outboxes_over_their_bound_pause_consumption_and_outboxes_that_do_not_drain_make_the_replica_unready()
    {
        await using var kafka = Endpoints.StartMockKafka();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, kafka: kafka);
        var settings = scenario.Settings();
        settings["Kafka:MaxOutboxLength"] = "1000";
        settings["Kafka:OutboxStallTimeout"] = "00:00:05";

        // An outcome topic without a leader (its brokers lost) and an outbox that grew meanwhile beyond the bound.
        kafka.Cluster.SetPartitionLeader(scenario.OutcomeTopic, 0, -1);
        kafka.Cluster.SetPartitionLeader(scenario.OutcomeTopic, 1, -1);
        var keys = OutboxKeys.For(new RedisOptions { ConnectionString = scenario.Redis.ConnectionString, KeyPrefix = scenario.KeyPrefix });
        var db = await scenario.RedisAsync();
        var batch = db.CreateBatch();
        var adds = Enumerable.Range(0, 1001).Select(i => batch.StreamAddAsync(keys.Outbox("switch-x"),
            [new NameValueEntry(OutcomePublisher.KeyField, $"recovery-{i}"), new NameValueEntry(OutcomePublisher.ValueField, Array.Empty<byte>()), new NameValueEntry(OutcomePublisher.TraceParentField, string.Empty)])).ToList();
        batch.Execute();
        await Task.WhenAll(adds);
        await db.SetAddAsync(keys.Outboxes(), "switch-x");

        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();
        await Eventually.TrueAsync(async () =>
        {
            var body = (await ReadyAsync(http)).Body;
            return body.Contains("OutboxFull: 1001 outcome updates wait for Kafka, more than Kafka:MaxOutboxLength (1000): consumption paused", StringComparison.Ordinal)
                && body.Contains("OutboxStalled: 1001 outcome updates wait and none went to Kafka for 5 s", StringComparison.Ordinal);
        }, "not ready: the outboxes full and stalled");

        // A drop now waits: nothing is decided or committed while the outboxes are over their bound.
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1000)));
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Body.Contains("OutboxFull", StringComparison.Ordinal) && Consumed(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative))) >= 1, "the drop read", TimeSpan.FromMinutes(2));
        Assert.Equal(0, await scenario.DecisionCountAsync("call-0"));
        Assert.Equal(0, scenario.CommittedTotal());

        // The outcome topic gets its leader back: the outbox drains, every update on the topic, and the drop waiting is decided.
        kafka.Cluster.SetPartitionLeader(scenario.OutcomeTopic, 0, 1);
        kafka.Cluster.SetPartitionLeader(scenario.OutcomeTopic, 1, 1);
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-0") == 1, "the waiting drop decided", TimeSpan.FromMinutes(2));
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)).Status == HttpStatusCode.OK, "ready again");
        Assert.True(scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: 1001).Count >= 1001);
    }

    private static async Task<(HttpStatusCode Status, string Body)> ReadyAsync(HttpClient http)
    {
        using var ready = await http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        return (ready.StatusCode, await ready.Content.ReadAsStringAsync());
    }

    private static double Consumed(string metrics) =>
        ConsumedLine().Matches(metrics).Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    private static double ProblemStarts(string metrics, string problem) =>
        ProblemStartsLine().Matches(metrics).Where(m => m.Groups["labels"].Value.Contains($"callrecovery_problem=\"{problem}\"", StringComparison.Ordinal))
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"(?m)^callrecovery_events_consumed_total(\{[^}]*\})? (?<value>[-0-9.eE+]+)")]
    private static partial Regex ConsumedLine();

    [GeneratedRegex(@"(?m)^callrecovery_readiness_problem_starts_total\{(?<labels>[^}]*)\} (?<value>[-0-9.eE+]+)")]
    private static partial Regex ProblemStartsLine();
}
