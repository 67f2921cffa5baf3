using System.Net;
using System.Text;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Testing;
using CsCheck;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Confluent.Kafka;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using CallRecovery.Ingest;
using CallRecovery.Policy;

namespace CallRecovery.IntegrationTests;

/// <summary>One bad event never stops anything: it goes to the dead-letter topic with its reason, and everything around it is decided.</summary>
[Collection(RealInfrastructure.Name)]
public sealed class HostileInputTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task An_out_of_range_timestamp_in_any_timestamp_field_is_dead_lettered_and_the_service_goes_on()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var client = service.CreateHttpClient();

        var badDropTime = Scenario.Drop("bad-drop-time", scenario.Number(1), scenario.Number(2));
        badDropTime.DropTime = new Timestamp { Seconds = badDropTime.DropTime.Seconds, Nanos = -1 };
        var badAnswerTime = Scenario.Drop("bad-answer-time", scenario.Number(3), scenario.Number(4));
        badAnswerTime.AnswerTime = new Timestamp { Seconds = 300_000_000_000 };
        var badConnected = new CallConnected { EventId = "c1", CallId = "bad-connected", Caller = scenario.Number(5), Callee = scenario.Number(6), AnswerTime = new Timestamp { Seconds = 1, Nanos = 2_000_000_000 } };

        await scenario.PublishAsync(badDropTime);
        await scenario.PublishAsync(badAnswerTime);
        await scenario.PublishAsync(badConnected);
        await scenario.PublishAsync(Scenario.Drop("good", scenario.Number(7), scenario.Number(8)));

        await Eventually.TrueAsync(async () => await scenario.RecoveryIdAsync("good") is not null, "the event behind the bad ones is decided");
        var letters = scenario.ReadDeadLetters(expected: 3);
        Assert.Equal(3, letters.Count);
        Assert.All(letters, l => Assert.Equal("invalid_timestamp", Header(l, DeadLetterPublisher.ErrorCodeHeader)));
        Assert.Equal(DecisionReason.Invalid, Assert.Single(await scenario.DecisionsAsync("bad-drop-time")).Reason);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);
        await Eventually.TrueAsync(async () => (await client.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready");
    }

    [Fact]
    public async Task A_dead_letter_larger_than_the_record_limit_keeps_its_first_bytes_and_says_so()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Kafka:Producer:message.max.bytes"] = "65536";
        await using var service = new ServiceHost(settings).Started();

        var huge = new byte[300_000];
        new Random(7).NextBytes(huge);
        await scenario.PublishRawAsync(huge, "huge");
        await scenario.PublishAsync(Scenario.Drop("after-huge", scenario.Number(1), scenario.Number(2)));

        await Eventually.TrueAsync(async () => await scenario.RecoveryIdAsync("after-huge") is not null, "the event behind the huge one is decided");
        var letter = Assert.Single(scenario.ReadDeadLetters(expected: 1));
        Assert.Equal("300000", Header(letter, DeadLetterPublisher.TruncatedFromHeader));
        Assert.True(letter.Message.Value.Length is > 0 and < 65536, $"kept {letter.Message.Value.Length} bytes");
        Assert.Equal(huge[..letter.Message.Value.Length], letter.Message.Value);
        Assert.Equal("parse_error", Header(letter, DeadLetterPublisher.ErrorCodeHeader));
    }

    [Fact]
    public async Task An_event_on_which_Redis_fails_is_isolated_and_dead_lettered_while_its_batch_is_decided()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        // Redis answers WRONGTYPE for anything about this call: a non-transient error caused by one event's data.
        var db = await scenario.RedisAsync();
        await db.StringSetAsync(scenario.DecisionKeys.CallDecisions("call-poison"), "not a hash");
        await using var service = new ServiceHost(scenario.Settings()).Started();

        for (var i = 0; i < 10; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i)));
            if (i == 4)
            {
                await scenario.PublishAsync(Scenario.Drop("call-poison", scenario.Number(50), scenario.Number(51)));
            }
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, 10).Select(i => scenario.RecoveryIdAsync($"call-{i}")))).All(id => id is not null),
            "every other event is decided");
        var letter = Assert.Single(scenario.ReadDeadLetters(expected: 1));
        Assert.Equal("processing_error", Header(letter, DeadLetterPublisher.ErrorCodeHeader));
        Assert.Equal("call-poison", Encoding.UTF8.GetString(letter.Message.Key!));
        Assert.DoesNotContain(scenario.Number(50), Header(letter, DeadLetterPublisher.ErrorMessageHeader), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tombstone_is_dead_lettered_and_an_event_without_a_key_is_decided()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = scenario.Kafka.BootstrapServers }).Build();

        await producer.ProduceAsync(scenario.InputTopic, new Message<byte[]?, byte[]?> { Key = "deleted"u8.ToArray(), Value = null }).DefaultTimeout();
        var keyless = new NetworkEvent { CallDropped = Scenario.Drop("keyless", scenario.Number(1), scenario.Number(2)) };
        await producer.ProduceAsync(scenario.InputTopic, new Message<byte[]?, byte[]?> { Key = null, Value = keyless.ToByteArray() }).DefaultTimeout();

        await Eventually.TrueAsync(async () => await scenario.RecoveryIdAsync("keyless") is not null, "the keyless event is decided");
        var letter = Assert.Single(scenario.ReadDeadLetters(expected: 1));
        Assert.Equal("tombstone", Header(letter, DeadLetterPublisher.ErrorCodeHeader));
    }

    [Fact]
    public async Task Thousands_of_hostile_events_among_good_ones_stop_nothing_and_lose_nothing()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 4);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var client = service.CreateHttpClient();
        using var decided = new MetricCollector<long>(service.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.decisions");

        var now = DateTimeOffset.UtcNow;
        // Sizes kept small enough that every dead letter fits the mock broker's memory for one partition (about
        // 5 MiB; it forgets the oldest records beyond that); megabyte-sized values are the fast tests' and the
        // truncation test's business.
        var hostile = HostileEvents.Hostile(now, maxHugeLength: 10_000).Where(h => (h.Value?.Length ?? 0) <= 12_000).Array[2_000].Single();
        var hostileBytes = hostile.Sum(h => (h.Value?.Length ?? 0) + 500);
        Assert.True(hostileBytes < 4_500_000, $"the hostile sample ({hostileBytes} bytes) must fit one mock partition");
        var good = HostileEvents.GoodDrops(now).Array[500].Single().DistinctBy(d => d.CallId).ToArray();
        var messages = hostile.Select(h => (Message: h.ToKafkaMessage(), Hostile: (HostileMessage?)h))
            .Concat(good.Select(d => (Message: new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(d.CallId), Value = new NetworkEvent { CallDropped = d }.ToByteArray() }, Hostile: (HostileMessage?)null)))
            .OrderBy(_ => Random.Shared.Next())
            .ToArray();
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = scenario.Kafka.BootstrapServers, LingerMs = 5 }).Build())
        {
            await Task.WhenAll(messages.Select(m => producer.ProduceAsync(scenario.InputTopic, m.Message))).DefaultTimeout();
        }

        // Every good drop decided exactly once (one decision under its event id, counted once), every hostile event dead-lettered.
        var db = await scenario.RedisAsync();
        await Eventually.TrueAsync(async () => (await Task.WhenAll(good.Select(d => db.HashExistsAsync(scenario.DecisionKeys.CallDecisions(d.CallId), d.EventId)))).All(x => x),
            "every good drop decided", TimeSpan.FromMinutes(3));
        var letters = scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: hostile.Length);
        Assert.Equal(hostile.Length, letters.Count);
        Assert.Equal(good.Length, decided.GetMeasurementSnapshot().Where(m => (string?)m.Tags["callrecovery.decision.reason"] != "invalid").Sum(m => m.Value));
        foreach (var drop in good)
        {
            Assert.Equal(1, await scenario.DecisionCountAsync(drop.CallId));
        }

        // No rejection repeats what it was given, and the same process is alive and ready.
        foreach (var letter in letters)
        {
            var text = Header(letter, DeadLetterPublisher.ErrorMessageHeader);
            Assert.DoesNotContain(text, t => char.IsControl(t));
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);
        await Eventually.TrueAsync(async () => (await client.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready");
    }

    private static string Header(ConsumeResult<byte[]?, byte[]?> result, string name) =>
        Encoding.UTF8.GetString(result.Message.Headers.GetLastBytes(name));
}
