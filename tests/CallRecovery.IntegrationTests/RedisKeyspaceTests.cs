using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;
using Google.Protobuf;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Redis holds nothing for ever: after a run through every path (drops and duplicates, a radio loss and its
/// re-attach, a redial, an emergency call, an opt-out, an outage storm and its end, callbacks tried again, cancels,
/// outcomes), every key the service wrote has a TTL, however it got there. (The outboxes' length is bounded apart:
/// backpressure, see the health tests.)
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class RedisKeyspaceTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task After_a_run_through_every_path_every_key_has_a_time_to_live()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        var settings = scenario.Settings();
        settings["Outage:Enabled"] = "true";
        settings["Outage:CellThreshold"] = "10";
        settings["Outage:NodeThreshold"] = "100000";
        settings["Retries:MaxCallbackAttempts"] = "2";
        settings["Retries:Gap"] = "00:00:01";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service) with { FirstCallbackOutcome = Outcome.NoAnswer });
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        using var http = service.CreateHttpClient();

        // Ordinary drops (each reported by both legs), called back twice (no answer, then the usual mix).
        for (var i = 0; i < 6; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i)));
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i), Party.Callee));
        }

        // A radio loss and its re-attach; a redial; an emergency call; an opt-out.
        var radio = Scenario.Drop("call-radio", scenario.Number(200), scenario.Number(201));
        radio.ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Radio, Name = "radio-connection-with-ue-lost" };
        await scenario.PublishAsync(radio);
        await scenario.PublishRawAsync(new NetworkEvent { SubscriberReachable = new SubscriberReachable { EventId = "reattach", Number = scenario.Number(200), At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), Reason = ReachabilityReason.Attach } }.ToByteArray(), "reattach");
        await scenario.PublishAsync(Scenario.Drop("call-redialled", scenario.Number(300), scenario.Number(301)));
        await scenario.PublishAsync(new CallConnected { EventId = "redial", CallId = "call-redial", Caller = scenario.Number(301), Callee = scenario.Number(300), AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) });
        await scenario.PublishAsync(new CallConnected { EventId = "sos", CallId = "call-sos", Caller = scenario.Number(400), Callee = "999", AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) });
        (await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(scenario.Number(500))}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();

        // An outage storm in one cell, and the cell back in service.
        for (var i = 0; i < 12; i++)
        {
            var storm = Scenario.Drop($"storm-{i}", scenario.Number(600 + i), scenario.Number(700 + i));
            storm.ServingCell = "234-15-dead-99";
            await scenario.PublishAsync(storm);
        }

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("storm-11"))?.State == RecoveryState.Held, "the storm held");
        await scenario.PublishRawAsync(new NetworkEvent { CellInService = new CellInService { EventId = "cell-back", ServingCell = "234-15-dead-99", At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) } }.ToByteArray(), "cell-back");

        var all = Enumerable.Range(0, 6).Select(i => $"call-{i}").Concat(Enumerable.Range(0, 12).Select(i => $"storm-{i}")).Append("call-radio").ToList();
        try
        {
            await Eventually.TrueAsync(async () => (await Task.WhenAll(all.Select(scenario.RecoveryAsync))).All(r => r is not null && RecoveryLifecycle.IsFinal(r.State)), "every recovery ended", TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            var states = await Task.WhenAll(all.Select(scenario.RecoveryAsync));
            Assert.Fail("not ended: " + string.Join(", ", all.Zip(states).Where(p => p.Second is null || !RecoveryLifecycle.IsFinal(p.Second.State)).Select(p => $"{p.First} {p.Second?.State.ToString() ?? "none"} {p.Second?.Hold} {p.Second?.Detail}")));
        }
        await Eventually.TrueAsync(() => emulator.Unconfirmed == 0, "every report confirmed");
        // Every path named above ran: second callbacks, the radio loss's re-attach, the redial, the emergency call, the outage.
        Assert.Contains(emulator.Placements, p => p.CallbackAttempt == 2);
        Assert.NotEmpty(await scenario.DecisionsAsync("call-redialled"));
        Assert.True((await scenario.RecoveryAsync("call-redialled"))?.State is null or RecoveryState.Cancelled, "the redial did not stop the recovery");
        Assert.NotEqual("none", (await scenario.RecoveryAsync("call-radio"))?.Hold ?? "none");
        Assert.NotEmpty((await scenario.RecoveryAsync("storm-0"))!.Incident);
        await stop.CancelAsync();
        await running.DefaultTimeout();

        await using var redis = await ConnectionMultiplexer.ConnectAsync(scenario.Redis.ConnectionString);
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var db = redis.GetDatabase();
        Assert.True(await db.KeyExistsAsync(scenario.SubscriberKeys.EmergencyProtection(scenario.Number(400))), "the emergency call protects its caller");
        Assert.True(await db.KeyExistsAsync(scenario.SubscriberKeys.OptOut(scenario.Number(500))), "the opt-out is kept");
        var keys = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: $"{scenario.KeyPrefix}:*", pageSize: 1000))
        {
            keys.Add(key);
        }

        Assert.True(keys.Count > 50, $"the run wrote {keys.Count} keys");
        var forever = new List<string>();
        foreach (var key in keys)
        {
            if (await db.KeyTimeToLiveAsync(key) is null && await db.KeyExistsAsync(key))
            {
                // The key's shape, not its name: names may carry numbers.
                forever.Add(System.Text.RegularExpressions.Regex.Replace(key.ToString(), @"\+?\d{6,}", "#"));
            }
        }

        Assert.True(forever.Count == 0, "keys without a TTL: " + string.Join(", ", forever.Distinct()));
    }
}
