using System.Diagnostics.Metrics;
using System.Text;
using System.Text.RegularExpressions;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using CallRecovery.Ingest;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;
using Confluent.Kafka;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Xunit.Abstractions;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Dead letters sent back by callrecovery-redrive (the built tool, as its own process, configured like the service by
/// environment variables) through the Kafka protocol to the service and a real Redis.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed partial class DeadLetterRedriveTests(Infrastructure infrastructure, ITestOutputHelper log)
{
    /// <summary>Validation:MaxCallDuration set too strict: the test drops were answered 95 s before they dropped.</summary>
    private const string TooStrictCallDuration = "00:01:00";

    private static readonly TimeSpan KafkaTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Drops_dead_lettered_under_a_too_strict_setting_are_decided_exactly_once_after_the_fix_however_often_the_redrive_runs()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        string[] calls = ["call-0", "call-1", "call-2"];
        var strict = scenario.Settings();
        strict["Validation:MaxCallDuration"] = TooStrictCallDuration;
        await using (var tooStrict = new ServiceHost(strict).Started())
        {
            for (var i = 0; i < calls.Length; i++)
            {
                var drop = new NetworkEvent { CallDropped = Scenario.Drop(calls[i], scenario.Number(i), scenario.Number(100 + i)) };
                await scenario.PublishRawAsync(drop.ToByteArray(), calls[i], headers: new() { ["x-probe"] = "probe-7" });
            }

            await scenario.PublishRawAsync("\u0001not an event"u8.ToArray(), "garbage");
            await Eventually.TrueAsync(async () => (await Task.WhenAll(calls.Select(scenario.DecisionsAsync))).All(d => d.Count == 1 && d[0].Reason == DecisionReason.Invalid),
                "each drop dead-lettered, with an invalid note under its call");
            Assert.Equal(4, scenario.ReadDeadLetters(expected: 4).Count);
        }

        // The too-strict service left its group with the dead letters' offsets committed: the fixed one reads only what is redriven.
        await Eventually.TrueAsync(() => Committed(scenario) == 4, "the too-strict service's offsets committed");

        // The setting fixed (Validation:MaxCallDuration back to its default); one delivery per recovery is asserted, so no resend on a slow machine.
        var fixedSettings = scenario.Settings();
        fixedSettings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var service = new ServiceHost(fixedSettings).Started();
        using var decided = new MetricCollector<long>(service.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.decisions");
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service));
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var first = await RedriveAsync(fixedSettings, "--apply", "--list");
        Assert.Contains("read 4, matched 4, still invalid 1, incomplete 0, would decide 3, republished 3", first, StringComparison.Ordinal);
        Assert.Matches(Row("inconsistent_timestamps", 3, 0, 3, 0), first);
        Assert.Matches(Row("parse_error", 1, 1, 0, 0), first);
        await Eventually.TrueAsync(async () => (await Task.WhenAll(calls.Select(scenario.RecoveryAsync))).All(r => r?.State == RecoveryState.Completed),
            "every redriven drop recovered");
        var recoveryIds = (await Task.WhenAll(calls.Select(scenario.RecoveryIdAsync))).Select(id => id!).ToArray();

        // Run again: the same dead letters are found and sent again; the service has decided them, and decides nothing twice.
        var second = await RedriveAsync(fixedSettings, "--apply");
        Assert.Contains("read 4, matched 4, still invalid 1, incomplete 0, would decide 3, republished 3", second, StringComparison.Ordinal);
        // Offsets are committed only once what they cover is decided: every redriven event has been through the decider.
        await Eventually.TrueAsync(() => Committed(scenario) == 10, "both redrives consumed and decided");

        foreach (var (call, recoveryId) in calls.Zip(recoveryIds))
        {
            // One decision (the invalid note kept beside it, so the lookup shows the call was dead-lettered first), one recovery.
            var decisions = await scenario.DecisionsAsync(call);
            Assert.Equal([DecisionReason.Accepted, DecisionReason.Invalid], decisions.Select(d => d.Reason).Order());
            Assert.Equal(RecoveryState.Completed, (await scenario.RecoveryAsync(call))!.State);
            Assert.Equal(recoveryId, await scenario.RecoveryIdAsync(call));
        }

        Assert.Equal(3, decided.GetMeasurementSnapshot().Where(m => (string?)m.Tags["callrecovery.decision.reason"] == "accepted").Sum(m => m.Value));
        Assert.Equal(0, decided.GetMeasurementSnapshot().Where(m => (string?)m.Tags["callrecovery.decision.reason"] != "accepted").Sum(m => m.Value));
        Assert.Equal(3, emulator.Received.Count);
        Assert.Equal(recoveryIds.Order(), emulator.Placements.Select(p => p.RecoveryId).Order());

        // Each redriven event is its original (key, value, headers) plus where it was redriven from; the garbage was not sent,
        // and nothing was dead-lettered again.
        var input = scenario.ReadTopic(scenario.InputTopic, 1, expected: 10);
        Assert.Equal(10, input.Count);
        var originals = input.Take(3).ToDictionary(m => Encoding.UTF8.GetString(m.Message.Key!), m => m.Message.Value);
        foreach (var redriven in input.Skip(4))
        {
            var key = Encoding.UTF8.GetString(redriven.Message.Key!);
            Assert.Equal(originals[key], redriven.Message.Value);
            Assert.Equal("probe-7", Header(redriven, "x-probe"));
            Assert.Matches(RedriveHeader(), Header(redriven, DeadLetterRedrive.RedriveHeader));
            Assert.DoesNotContain(redriven.Message.Headers, h => h.Key.StartsWith("dlq-", StringComparison.Ordinal));
        }

        Assert.Equal(10, HighWatermark(scenario, scenario.InputTopic));
        Assert.Equal(4, HighWatermark(scenario, scenario.DeadLetterTopic));

        // The bundled librdkafka, never the system's; and no number in anything the tool printed.
        Assert.Equal(BundledLibrdkafka.Required.ToString(), LoadedLibrdkafka().Match(first).Groups["version"].Value);
        for (var i = 0; i < calls.Length; i++)
        {
            Assert.DoesNotContain(scenario.Number(i), first + second, StringComparison.Ordinal);
            Assert.DoesNotContain(scenario.Number(100 + i), first + second, StringComparison.Ordinal);
        }

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_dry_run_reports_by_error_code_what_the_configuration_in_force_would_decide_and_changes_nothing()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        string[] calls = ["call-0", "call-1"];
        var strict = scenario.Settings();
        strict["Validation:MaxCallDuration"] = TooStrictCallDuration;
        await using (var tooStrict = new ServiceHost(strict).Started())
        {
            await scenario.PublishAsync(Scenario.Drop(calls[0], scenario.Number(0), scenario.Number(100)));
            await scenario.PublishAsync(Scenario.Drop(calls[1], scenario.Number(1), scenario.Number(101)));
            await scenario.PublishRawAsync("\u0001not an event"u8.ToArray(), "garbage");
            // Dropped an hour from now: beyond Validation:MaxClockSkew whatever the call's duration.
            await scenario.PublishAsync(Scenario.Drop("call-future", scenario.Number(2), scenario.Number(102), now: DateTimeOffset.UtcNow.AddHours(1)));
            await Eventually.TrueAsync(async () => (await Task.WhenAll(calls.Append("call-future").Select(scenario.DecisionsAsync))).All(d => d.Count == 1 && d[0].Reason == DecisionReason.Invalid),
                "each drop dead-lettered, with an invalid note under its call");
            Assert.Equal(4, scenario.ReadDeadLetters(expected: 4).Count);
        }

        // Under the fixed configuration: the drops would be decided, the garbage and the future drop are still invalid.
        var fixedSettings = scenario.Settings();
        var report = await RedriveAsync(fixedSettings);
        Assert.Matches(Row("inconsistent_timestamps", 2, 0, 2, 0), report);
        Assert.Matches(Row("parse_error", 1, 1, 0, 0), report);
        Assert.Matches(Row("future_timestamp", 1, 1, 0, 0), report);
        Assert.Contains("read 4, matched 4, still invalid 2, incomplete 0, would decide 2, republished 0", report, StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing was republished.", report, StringComparison.Ordinal);

        // Under the too-strict configuration still in force, nothing would be decided: every one is still invalid, by its code now.
        var underStrict = await RedriveAsync(strict);
        Assert.Matches(Row("inconsistent_timestamps", 2, 2, 0, 0), underStrict);
        Assert.Contains("read 4, matched 4, still invalid 4, incomplete 0, would decide 0, republished 0", underStrict, StringComparison.Ordinal);

        // Filters: error code, source partition and offsets (the drops were at 0 and 1, the garbage at 2, the future drop at 3); time.
        var filtered = await RedriveAsync(fixedSettings, "--error-code", "inconsistent_timestamps", "--source-partition", "0", "--source-offsets", "1-5", "--list");
        Assert.Contains("read 4, matched 1, still invalid 0, incomplete 0, would decide 1, republished 0", filtered, StringComparison.Ordinal);
        // (Batches are decided side by side, so the dead letters' own order may differ from their sources'.)
        Assert.Matches($@"dlq 0/[0-3]  from {Regex.Escape(scenario.InputTopic)}\[0\]@1  inconsistent_timestamps -> would decide  event call-1/Caller  call call-1", filtered);
        var byCode = await RedriveAsync(fixedSettings, "--error-code", "parse_error,future_timestamp");
        Assert.Contains("read 4, matched 2, still invalid 2, incomplete 0, would decide 0, republished 0", byCode, StringComparison.Ordinal);
        var later = await RedriveAsync(fixedSettings, "--since", "2099-01-01T00:00Z");
        Assert.Contains("read 0, matched 0,", later, StringComparison.Ordinal);
        var earlier = await RedriveAsync(fixedSettings, "--until", "2000-01-01T00:00Z");
        Assert.Contains("read 4, matched 0,", earlier, StringComparison.Ordinal);

        // Nothing changed: no event sent, no dead letter added, no decision but the invalid notes, no recovery.
        Assert.Equal(4, HighWatermark(scenario, scenario.InputTopic));
        Assert.Equal(4, HighWatermark(scenario, scenario.DeadLetterTopic));
        foreach (var call in calls.Append("call-future"))
        {
            Assert.Equal(DecisionReason.Invalid, Assert.Single(await scenario.DecisionsAsync(call)).Reason);
            Assert.Null(await scenario.RecoveryIdAsync(call));
        }
    }

    /// <summary>Runs the tool to its end with the service's settings as environment variables; its output (stdout and stderr), also in the test log.</summary>
    private async Task<string> RedriveAsync(IReadOnlyDictionary<string, string?> settings, params string[] arguments)
    {
        using var tool = ServiceProcess.Start(settings, "callrecovery-redrive.dll", arguments);
        await tool.WaitForExitAsync();
        log.WriteLine($"$ callrecovery-redrive {string.Join(' ', arguments)}\n{tool.Output}\n");
        Assert.True(tool.ExitCode == 0, $"callrecovery-redrive {string.Join(' ', arguments)} exited {tool.ExitCode}:\n{tool.Output}");
        return tool.Output;
    }

    /// <summary>A report row: the code, then matched, still invalid, would decide, incomplete.</summary>
    private static Regex Row(string code, int matched, int stillInvalid, int wouldDecide, int incomplete) =>
        new($@"(?m)^\s+{code}\s+{matched}\s+{stillInvalid}\s+{wouldDecide}\s+{incomplete}\s*$");

    /// <summary>The service's group's committed offset on the input topic (-1 while the group coordinator cannot say).</summary>
    private static long Committed(Scenario scenario)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = scenario.Kafka.BootstrapServers, GroupId = scenario.GroupId, EnableAutoCommit = false }).Build();
        try
        {
            return consumer.Committed([new TopicPartition(scenario.InputTopic, 0)], KafkaTimeout).Single().Offset.Value;
        }
        catch (KafkaException)
        {
            return -1;
        }
    }

    private static long HighWatermark(Scenario scenario, string topic)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = scenario.Kafka.BootstrapServers, GroupId = scenario.Id + ".watermarks" }).Build();
        return consumer.QueryWatermarkOffsets(new TopicPartition(topic, 0), KafkaTimeout).High.Value;
    }

    private static string Header(ConsumeResult<byte[]?, byte[]?> result, string name) =>
        Encoding.UTF8.GetString(result.Message.Headers.GetLastBytes(name));

    [GeneratedRegex(@"^0/[0-3] at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex RedriveHeader();

    [GeneratedRegex(@"librdkafka (?<version>\S+) from \S*runtimes")]
    private static partial Regex LoadedLibrdkafka();
}
