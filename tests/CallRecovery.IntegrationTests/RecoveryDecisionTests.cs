using System.Net;
using System.Text;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using System.Diagnostics.Metrics;
using CallRecovery.Ingest;
using CallRecovery.Policy;

namespace CallRecovery.IntegrationTests;

/// <summary>Call-drop events through the Kafka protocol into decisions held in a real Redis.</summary>
[Collection(RealInfrastructure.Name)]
public sealed class RecoveryDecisionTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task Both_legs_of_one_call_give_one_recovery()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        await using var service = new ServiceHost(scenario.Settings()).Started();

        var (caller, callee) = (scenario.Number(1), scenario.Number(2));
        // The legs arrive under different keys, so on different partitions, as from two network elements.
        await scenario.PublishAsync(Scenario.Drop("call-1", caller, callee, Party.Caller), key: "msc-leg");
        await scenario.PublishAsync(Scenario.Drop("call-1", caller, callee, Party.Callee), key: "ims-leg");

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-1") == 2, "both legs decided");
        var decisions = await scenario.DecisionsAsync("call-1");
        Assert.Equal([DecisionReason.Accepted, DecisionReason.Duplicate], decisions.Select(d => d.Reason).Order());
        var recoveryId = await scenario.RecoveryIdAsync("call-1");
        Assert.NotNull(recoveryId);
        Assert.All(decisions, d => Assert.Equal(recoveryId, d.RecoveryId));
    }

    [Fact]
    public async Task An_engineer_sees_an_accepted_drop_as_its_report_gave_it_and_the_duplicate_leg_beside_it()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var client = service.CreateHttpClient();
        var (caller, callee) = (scenario.Number(1), scenario.Number(2));
        var first = Scenario.Drop("call-seen", caller, callee, Party.Callee, answeredSeconds: 83.25);
        await scenario.PublishAsync(first);
        await Eventually.TrueAsync(async () => await scenario.RecoveryIdAsync("call-seen") is not null, "the recovery created");
        await scenario.PublishAsync(Scenario.Drop("call-seen", caller, callee, Party.Caller));

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-seen") == 2, "both legs decided");
        using var view = JsonDocument.Parse(await client.GetStringAsync("/v1/calls/call-seen"));
        var decisions = view.RootElement.GetProperty("decisions").EnumerateArray().ToList();
        Assert.Equal(["accepted", "duplicate"], decisions.Select(d => d.GetProperty("reason").GetString()));
        var accepted = decisions[0];
        var recoveryId = await scenario.RecoveryIdAsync("call-seen");
        Assert.Equal((first.EventId, "call-seen", recoveryId, "q850:41", "Callee", "test", "234-15-1a2b-0c", "msc-lon-1"),
            (accepted.GetProperty("eventId").GetString(), accepted.GetProperty("callId").GetString(), accepted.GetProperty("recoveryId").GetString(), accepted.GetProperty("cause").GetString(),
             accepted.GetProperty("droppedParty").GetString(), accepted.GetProperty("reporter").GetString(), accepted.GetProperty("servingCell").GetString(), accepted.GetProperty("switchingNode").GetString()));
        Assert.Equal(83.25, accepted.GetProperty("answeredSeconds").GetDouble(), 3);
        Assert.Equal(first.DropTime.ToDateTimeOffset().ToUnixTimeMilliseconds(), accepted.GetProperty("dropTime").GetDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal((await scenario.RecoveryAsync("call-seen"))!.AcceptedAt.ToUnixTimeMilliseconds(), accepted.GetProperty("decidedAt").GetDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal(recoveryId, decisions[1].GetProperty("recoveryId").GetString());
    }

    [Fact]
    public async Task Replaying_a_partition_from_offset_0_creates_no_second_recovery()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        const int calls = 50;
        await using (var first = new ServiceHost(scenario.Settings()).Started())
        {
            for (var i = 0; i < calls; i++)
            {
                await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
            }

            await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, calls), "every call decided");
        }

        var before = await SnapshotAsync(scenario, calls);

        // A new group starts at offset 0 of every partition: the whole topic is replayed against the same Redis.
        await using var replay = new ServiceHost(scenario.Settings(groupId: scenario.GroupId + ".replay")).Started();
        using var consumed = new MetricCollector<long>(replay.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.events.consumed");
        using var decided = new MetricCollector<long>(replay.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.decisions");
        await Eventually.TrueAsync(() => consumed.GetMeasurementSnapshot().Sum(m => m.Value) >= calls, "the replay consumed every event");

        Assert.Equal(before, await SnapshotAsync(scenario, calls));
        Assert.Empty(decided.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task Poison_messages_land_in_the_dead_letter_topic_while_the_events_behind_them_flow()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();

        var garbage = Encoding.UTF8.GetBytes("\u0001not a protobuf at all\u00ff");
        var badNumber = Scenario.Drop("call-bad", "07700900123", scenario.Number(2));
        var json = """{"callDropped": {"eventId": "j1", "callId": "call-json", "caller": "%CALLER%", "callee": "%CALLEE%", "droppedParty": "PARTY_CALLEE", "releaseCause": {"protocol": "CAUSE_PROTOCOL_SIP_RELEASE_CAUSE", "code": 2}, "answerTime": "%ANSWER%", "dropTime": "%DROP%"}}"""
            .Replace("%CALLER%", scenario.Number(3), StringComparison.Ordinal)
            .Replace("%CALLEE%", scenario.Number(4), StringComparison.Ordinal)
            .Replace("%ANSWER%", DateTimeOffset.UtcNow.AddMinutes(-3).ToString("O"), StringComparison.Ordinal)
            .Replace("%DROP%", DateTimeOffset.UtcNow.AddSeconds(-2).ToString("O"), StringComparison.Ordinal);

        await scenario.PublishAsync(Scenario.Drop("call-before", scenario.Number(5), scenario.Number(6)));
        await scenario.PublishRawAsync(garbage, "poison-1");
        await scenario.PublishAsync(badNumber);
        await scenario.PublishRawAsync(Encoding.UTF8.GetBytes("{\"callDropped\": "), "poison-2", "application/json");
        await scenario.PublishRawAsync(Encoding.UTF8.GetBytes(json), "call-json", "application/json");
        await scenario.PublishAsync(Scenario.Drop("call-after", scenario.Number(7), scenario.Number(8)));

        await Eventually.TrueAsync(async () => await scenario.RecoveryIdAsync("call-after") is not null && await scenario.RecoveryIdAsync("call-json") is not null, "the events behind the poison are decided");
        Assert.NotNull(await scenario.RecoveryIdAsync("call-before"));

        var letters = scenario.ReadDeadLetters(expected: 3);
        Assert.Equal(3, letters.Count);
        Assert.Equal(garbage, letters[0].Message.Value);
        Assert.Equal("parse_error", Header(letters[0], DeadLetterPublisher.ErrorCodeHeader));
        Assert.Equal("malformed_number", Header(letters[1], DeadLetterPublisher.ErrorCodeHeader));
        Assert.Contains("caller must be E.164", Header(letters[1], DeadLetterPublisher.ErrorMessageHeader), StringComparison.Ordinal);
        Assert.Equal("parse_error", Header(letters[2], DeadLetterPublisher.ErrorCodeHeader));
        Assert.Equal("application/json", Header(letters[2], "content-type"));
        Assert.Equal(scenario.InputTopic, Header(letters[1], DeadLetterPublisher.SourceTopicHeader));

        // The invalid event had a call id: engineers find why nothing happened for that call.
        var invalid = Assert.Single(await scenario.DecisionsAsync("call-bad"));
        Assert.Equal(DecisionReason.Invalid, invalid.Reason);
        Assert.Null(await scenario.RecoveryIdAsync("call-bad"));
    }

    [Fact]
    public async Task Two_consumer_instances_in_one_group_split_the_partitions_and_decide_each_call_exactly_once()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 4);
        await using var a = new ServiceHost(scenario.Settings()).Started();
        await using var b = new ServiceHost(scenario.Settings()).Started();
        using var consumedByA = new MetricCollector<long>(a.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.events.consumed");
        using var consumedByB = new MetricCollector<long>(b.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.events.consumed");

        // Publish in waves until both instances have joined and taken events: the group rebalances as B arrives.
        var calls = 0;
        while (consumedByA.GetMeasurementSnapshot().Sum(m => m.Value) == 0 || consumedByB.GetMeasurementSnapshot().Sum(m => m.Value) == 0)
        {
            Assert.True(calls < 2000, "both instances should take events within 2000 calls");
            for (var end = calls + 50; calls < end; calls++)
            {
                var (caller, callee) = (scenario.Number(calls), scenario.Number(5000 + calls));
                // Each leg under its own key: legs of one call are usually decided by different instances.
                await scenario.PublishAsync(Scenario.Drop($"call-{calls}", caller, callee, Party.Caller), key: $"a-{calls}");
                await scenario.PublishAsync(Scenario.Drop($"call-{calls}", caller, callee, Party.Callee), key: $"b-{calls}");
            }

            await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, calls, legs: 2), "the wave decided");
        }

        await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, calls, legs: 2), "every leg decided");
        for (var i = 0; i < calls; i++)
        {
            var decisions = await scenario.DecisionsAsync($"call-{i}");
            Assert.Single(decisions, d => d.Reason == DecisionReason.Accepted);
            Assert.Single(decisions, d => d.Reason == DecisionReason.Duplicate);
        }

        var byA = consumedByA.GetMeasurementSnapshot().Sum(m => m.Value);
        var byB = consumedByB.GetMeasurementSnapshot().Sum(m => m.Value);
        Assert.True(byA + byB >= 2 * calls, $"every event consumed at least once (A {byA}, B {byB})");
    }

    [Fact]
    public async Task Redis_stopped_mid_stream_and_restarted_loses_no_event()
    {
        await using var redis = await Endpoints.StartRedisAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2, redis: redis);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var client = service.CreateHttpClient();

        const int calls = 60;
        for (var i = 0; i < 20; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, 20), "the first events decided");

        await redis.StopAsync();
        for (var i = 20; i < calls; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, "the service reports itself not ready");
        await redis.StartAsync();

        await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, calls), "every event decided after Redis returned");
        await Eventually.TrueAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "the service is ready again");
        for (var i = 0; i < calls; i++)
        {
            Assert.NotNull(await scenario.RecoveryIdAsync($"call-{i}"));
            Assert.Equal(1, await scenario.DecisionCountAsync($"call-{i}"));
        }
    }

    [Fact]
    public async Task Kafka_unreachable_mid_stream_shows_as_degraded_and_loses_nothing()
    {
        await using var kafka = await Endpoints.StartKafkaAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2, kafka: kafka);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var client = service.CreateHttpClient();
        for (var i = 0; i < 10; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, 10), "the first events decided");
        await Eventually.TrueAsync(async () => (await client.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready with Kafka up");

        await kafka.StopAsync();
        // Still ready (switches must reach it; they need only Redis), and saying what is wrong.
        await Eventually.TrueAsync(async () =>
        {
            using var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            return ready.StatusCode == HttpStatusCode.OK && (await ready.Content.ReadAsStringAsync()).StartsWith("Degraded\nkafka: Degraded: Kafka: ", StringComparison.Ordinal);
        }, "degraded with Kafka down");
        await kafka.StartAsync();

        for (var i = 10; i < 20; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, 20), "every event decided after Kafka returned");
        await Eventually.TrueAsync(async () => await client.GetStringAsync(new Uri("/health/ready", UriKind.Relative)) == "Healthy\n", "healthy again");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(1, await scenario.DecisionCountAsync($"call-{i}"));
        }
    }

    [Fact]
    public async Task Subscriber_limits_opt_outs_and_emergency_protection_suppress_recoveries()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Policy:MaxRecoveriesPerWindow"] = "2";
        await using var service = new ServiceHost(settings).Started();
        using var client = service.CreateHttpClient();

        var (repeat, optedOut, emergency, friend) = (scenario.Number(1), scenario.Number(2), scenario.Number(3), scenario.Number(4));
        var response = await client.PutAsync($"/v1/subscribers/{Uri.EscapeDataString(optedOut)}/opt-out", null);
        response.EnsureSuccessStatusCode();
        Assert.DoesNotContain(optedOut, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        for (var i = 0; i < 3; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"repeat-{i}", repeat, friend));
        }

        await scenario.PublishAsync(Scenario.Drop("opted-out", optedOut, friend));
        var emergencyCall = Scenario.Drop("emergency", emergency, "112", q850: 16);
        emergencyCall.Emergency = true;
        await scenario.PublishAsync(emergencyCall);
        await scenario.PublishAsync(Scenario.Drop("after-emergency", emergency, friend));
        await scenario.PublishAsync(Scenario.Drop("normal", scenario.Number(5), friend, q850: 16));

        string[] callIds = ["repeat-0", "repeat-1", "repeat-2", "opted-out", "emergency", "after-emergency", "normal"];
        await Eventually.TrueAsync(async () => (await Task.WhenAll(callIds.Select(scenario.DecisionCountAsync))).All(n => n == 1), "every call decided");
        async Task<DecisionReason> ReasonOf(string callId) => Assert.Single(await scenario.DecisionsAsync(callId)).Reason;
        Assert.Equal(DecisionReason.Accepted, await ReasonOf("repeat-0"));
        Assert.Equal(DecisionReason.Accepted, await ReasonOf("repeat-1"));
        Assert.Equal(DecisionReason.RateLimited, await ReasonOf("repeat-2"));
        Assert.Equal(DecisionReason.OptedOut, await ReasonOf("opted-out"));
        Assert.Equal(DecisionReason.ExcludedDestination, await ReasonOf("emergency"));
        Assert.Equal(DecisionReason.EmergencyProtection, await ReasonOf("after-emergency"));
        Assert.Equal(DecisionReason.NormalClearing, await ReasonOf("normal"));

        var lookup = await client.GetStringAsync("/v1/calls/repeat-2");
        Assert.Contains("rate_limited", lookup, StringComparison.Ordinal);
    }

    private static async Task<bool> AllDecidedAsync(Scenario scenario, int calls, int legs = 1)
    {
        var counts = await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.DecisionCountAsync($"call-{i}")));
        return counts.All(n => n == legs);
    }

    private static async Task<string> SnapshotAsync(Scenario scenario, int calls)
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, calls).Select(async i =>
            $"{await scenario.RecoveryIdAsync($"call-{i}")}:{string.Join('|', (await scenario.DecisionsAsync($"call-{i}")).Select(d => System.Text.Encoding.UTF8.GetString(d.ToJsonUtf8())).Order())}"));
        return string.Join('\n', parts);
    }

    private static string Header(Confluent.Kafka.ConsumeResult<byte[]?, byte[]?> result, string name) =>
        Encoding.UTF8.GetString(result.Message.Headers.GetLastBytes(name));
}
