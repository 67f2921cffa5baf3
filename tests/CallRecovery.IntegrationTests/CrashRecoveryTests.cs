using CallRecovery.Contracts.V1;
using CallRecovery.Hosting;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;

namespace CallRecovery.IntegrationTests;

[Collection(RealInfrastructure.Name)]
public sealed class CrashRecoveryTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task A_crash_after_the_Redis_write_and_before_the_commit_loses_nothing_and_duplicates_nothing()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        const int calls = 30;
        var settings = scenario.Settings();
        // The first process never gets to commit: its commit interval is longer than the test.
        settings["Kafka:Consumer:auto.commit.interval.ms"] = "600000";

        using (var doomed = ServiceProcess.Start(settings))
        {
            for (var i = 0; i < calls; i++)
            {
                await scenario.PublishAsync(Fixtures.Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
            }

            await Eventually.TrueAsync(async () => await AllDecidedAsync(scenario, calls), "every call decided by the first process");
            doomed.Kill();
            Assert.DoesNotContain(scenario.Number(0), doomed.Output, StringComparison.Ordinal);
        }

        Assert.Equal(0, scenario.CommittedTotal());
        var before = await RecoveriesAsync(scenario, calls);

        settings["Kafka:Consumer:auto.commit.interval.ms"] = "200";
        using var successor = ServiceProcess.Start(settings);
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == calls, "the successor replays and commits every event");

        Assert.Equal(before, await RecoveriesAsync(scenario, calls));
        for (var i = 0; i < calls; i++)
        {
            Assert.Equal(1, await scenario.DecisionCountAsync($"call-{i}"));
        }
    }

    /// <summary>
    /// The service dies (as by kill -9) between two steps of a recovery: decided and admitted but not created; created
    /// but not queued; the command at the switch but its acceptance not recorded; an outcome stored but not in the
    /// outbox. A successor takes over (Kafka replays what was not committed, the switch reconnects and resends what
    /// was not confirmed): every callback is placed at the switch exactly once, and every outcome reaches the topic.
    /// </summary>
    [Theory]
    [InlineData(CrashPoints.Decided)]
    [InlineData(CrashPoints.Settled)]
    [InlineData(CrashPoints.Sent)]
    [InlineData(CrashPoints.OutcomeStored)]
    public async Task A_crash_between_two_steps_places_every_callback_once_and_publishes_every_outcome(string point)
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        const int calls = 5;
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:00:03";
        var crashing = new Dictionary<string, string?>(settings) { ["Testing:CrashAt"] = point };
        using var doomed = ServiceProcess.Start(crashing);
        await using var emulator = new EmulatedSwitch(new SwitchEmulatorOptions
        {
            ServiceAddress = doomed.SwitchingAddress,
            SwitchId = "switch-a",
            InstanceId = "crash-witness",
            StageDelay = TimeSpan.FromMilliseconds(20),
            ReconnectDelay = TimeSpan.FromMilliseconds(100),
        });
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        for (var i = 0; i < calls; i++)
        {
            await scenario.PublishAsync(Fixtures.Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await doomed.WaitForExitAsync();
        Assert.Contains($"Testing:CrashAt {point}", doomed.Output, StringComparison.Ordinal);

        // The successor listens where the switch reconnects.
        settings["Kestrel:Endpoints:Switching:Url"] = doomed.SwitchingAddress.ToString().TrimEnd('/');
        using var successor = ServiceProcess.Start(settings);
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}")))).All(r => r?.State == RecoveryState.Completed), "every recovery completed after the crash");
        await Eventually.TrueAsync(() => emulator.Unconfirmed == 0, "every acceptance and report confirmed");

        var placements = emulator.Placements.GroupBy(p => (p.RecoveryId, p.CallbackAttempt)).ToList();
        Assert.Equal(calls, placements.Count);
        Assert.All(placements, p => Assert.Single(p));
        if (point != "sent")
        {
            // Nothing was on its way to the switch when the process died: no command reached it twice either.
            Assert.Equal(0, emulator.Duplicates);
        }
        // (The outbox is drained by whichever replica holds its lease: the successor once the dead one's lease lapses.)
        await Eventually.TrueAsync(() =>
        {
            var outcomes = scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(1))
                .Select(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value)).Where(u => u.ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome).Select(u => u.RecoveryId).ToHashSet();
            return Enumerable.Range(0, calls).All(i => outcomes.Contains(RecoveryIds.For($"call-{i}")));
        }, "every outcome on the topic");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    private static async Task<bool> AllDecidedAsync(Fixtures.Scenario scenario, int calls) =>
        (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.DecisionCountAsync($"call-{i}")))).All(n => n == 1);

    private static async Task<string?[]> RecoveriesAsync(Fixtures.Scenario scenario, int calls) =>
        await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryIdAsync($"call-{i}")));
}

/// <summary>A killed or cancelled test run must not poison the next: the processes its fixtures started do not outlive it.</summary>
public sealed class OwnedProcessesTests
{
    [Fact]
    public void Processes_left_by_a_test_host_that_died_are_swept_at_the_next_start()
    {
        using var leftover = System.Diagnostics.Process.Start("sleep", "300");
        var record = Path.Combine(Path.GetTempPath(), "callrecovery-test-processes", leftover.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // Recorded by a host that is gone (no pid is that large).
        OwnedProcesses.Record(leftover.Id, "2147483646", OwnedProcesses.StartTicksOf(leftover.Id));

        // Another fixture starting in parallel may sweep it first; either way it is gone.
        OwnedProcesses.SweepLeftovers();
        Assert.True(leftover.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.False(File.Exists(record));
    }
}
