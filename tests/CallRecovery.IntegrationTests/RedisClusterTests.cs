using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.SwitchEmulator;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.IntegrationTests;

/// <summary>Keys, scripts and state are built for Redis Cluster: every script stays in one hash slot.</summary>
[Collection(RealInfrastructure.Name)]
public sealed class RedisClusterTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task Recoveries_are_decided_and_delivered_once_on_a_Redis_Cluster()
    {
        await using var cluster = await RedisCluster.StartNewAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2, redis: cluster);
        var settings = scenario.Settings();
        settings["Policy:MaxRecoveriesPerWindow"] = "2";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service));
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        const int calls = 30;
        for (var i = 0; i < calls; i++)
        {
            var (caller, callee) = (scenario.Number(i), scenario.Number(1000 + i));
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", caller, callee, Party.Caller), key: $"a-{i}");
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", caller, callee, Party.Callee), key: $"b-{i}");
        }

        // One subscriber drops three times: the third is over the limit, on whichever node holds that subscriber.
        var repeat = scenario.Number(5000);
        for (var i = 0; i < 3; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"repeat-{i}", repeat, scenario.Number(6000 + i)));
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed on the cluster");
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("repeat-2") == 1, "the repeat dropper's third call decided");

        Assert.Equal(calls + 2, emulator.Placed.Count);
        Assert.Equal(DecisionReason.RateLimited, Assert.Single(await scenario.DecisionsAsync("repeat-2")).Reason);
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }
}
