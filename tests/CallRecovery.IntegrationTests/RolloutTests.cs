using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Starting small (Rollout), end to end (Kafka events, real Redis, the switch API over HTTP/2, outcomes on Kafka):
/// shadow mode decides, paces and records every recovery and sends the switch nothing; a canary calls only the
/// customers it selects; a changed rollout file applies without a restart.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class RolloutTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task In_shadow_mode_nothing_reaches_the_switch_and_the_lookup_says_when_it_would_have_called()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Rollout:Mode"] = "Shadow";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service));
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => emulator.IsConnected, "the switch connected");

        await scenario.PublishAsync(Scenario.Drop("shadowed", scenario.Number(1), scenario.Number(2)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("shadowed"))?.State == RecoveryState.Completed, "the recovery ran its course");
        var recovery = (await scenario.RecoveryAsync("shadowed"))!;
        Assert.True(recovery.Shadow);
        Assert.Equal(nameof(Outcome.WouldHaveCalled), recovery.Outcome);
        Assert.True(recovery.CompletedAt >= recovery.DueAt - RecoveryLifecycle.EarliestDispatch, "it would have called when the callback was due, not before");

        using var http = service.CreateHttpClient();
        var shown = (await http.GetFromJsonAsync<JsonElement>("/v1/calls/shadowed")).GetProperty("recovery");
        Assert.True(shown.GetProperty("shadow").GetBoolean());
        Assert.Equal(recovery.CompletedAt, shown.GetProperty("wouldHaveCalledAt").GetDateTimeOffset());
        var rollout = await http.GetFromJsonAsync<JsonElement>("/v1/rollout");
        Assert.Equal("Shadow", rollout.GetProperty("mode").GetString());

        // On the shadow topic, marked; nothing on the topic billing reads, and no compensation.
        var update = RecoveryUpdate.Parser.ParseFrom(Assert.Single(scenario.ReadTopic(scenario.ShadowOutcomeTopic, 2, expected: 1)).Message.Value);
        Assert.True(update.Shadow);
        Assert.Equal(Outcome.WouldHaveCalled, update.Outcome);
        Assert.Empty(scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2)));
        Assert.Empty(scenario.ReadTopic(scenario.CompensationTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(1)));
        Assert.Empty(emulator.Received);

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_canary_calls_only_the_customers_of_its_switching_node()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Rollout:Canary:SwitchingNodes:0"] = "msc-canary";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service));
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var canary = Scenario.Drop("canary", scenario.Number(1), scenario.Number(2));
        canary.SwitchingNode = "msc-canary";
        var elsewhere = Scenario.Drop("elsewhere", scenario.Number(3), scenario.Number(4));
        elsewhere.SwitchingNode = "msc-other";
        await scenario.PublishAsync(canary);
        await scenario.PublishAsync(elsewhere);

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("elsewhere"))?.State == RecoveryState.Completed, "the other node's recovery ran in shadow");
        await Eventually.TrueAsync(() => emulator.Placed.ContainsKey(RecoveryIds.For("canary")), "the canary's customer is called back");
        Assert.Equal(nameof(Outcome.WouldHaveCalled), (await scenario.RecoveryAsync("elsewhere"))!.Outcome);
        Assert.False((await scenario.RecoveryAsync("canary"))!.Shadow);
        Assert.DoesNotContain(emulator.Received, c => c.RecoveryId == RecoveryIds.For("elsewhere"));

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_changed_rollout_file_goes_live_without_a_restart()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var file = Path.Combine(Directory.CreateTempSubdirectory("callrecovery-rollout-").FullName, "rollout.json");
        await File.WriteAllTextAsync(file, """{ "Rollout": { "Mode": "Shadow" } }""");
        try
        {
            var settings = scenario.Settings();
            settings["Rollout:File"] = file;
            await using var service = new ServiceHost(settings).Started();
            await using var emulator = new EmulatedSwitch(TestSwitch.Options(service));
            using var stop = new CancellationTokenSource();
            var running = emulator.RunAsync(stop.Token);
            using var http = service.CreateHttpClient();

            await scenario.PublishAsync(Scenario.Drop("before", scenario.Number(1), scenario.Number(2)));
            await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("before"))?.Outcome == nameof(Outcome.WouldHaveCalled), "shadow as the file says");

            await File.WriteAllTextAsync(file, """{ "Rollout": { "Mode": "Live" } }""");
            await Eventually.TrueAsync(async () => (await http.GetFromJsonAsync<JsonElement>("/v1/rollout")).GetProperty("mode").GetString() == "Live", "the change read");
            await scenario.PublishAsync(Scenario.Drop("after", scenario.Number(3), scenario.Number(4)));
            await Eventually.TrueAsync(() => emulator.Placed.ContainsKey(RecoveryIds.For("after")), "live: the customer is called back");
            Assert.DoesNotContain(emulator.Received, c => c.RecoveryId == RecoveryIds.For("before"));

            await stop.CancelAsync();
            await running.DefaultTimeout();
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }
}
