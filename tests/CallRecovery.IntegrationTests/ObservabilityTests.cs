using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.SwitchEmulator;
using Google.Protobuf;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using CallRecovery.Recoveries;

namespace CallRecovery.IntegrationTests;

/// <summary>Traces, metrics, health and the engineers' lookup, through the real service.</summary>
[Collection(RealInfrastructure.Name)]
public sealed partial class ObservabilityTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task An_event_without_a_traceparent_starts_its_own_trace_never_a_previous_events()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var spans = new ExportedSpans();
        await using var service = new ServiceHost(scenario.Settings(), services => services.AddOpenTelemetry().WithTracing(t => t.AddInMemoryExporter(spans))).Started();

        // Several in one batch, then more in later batches: a span chain grew both ways before.
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i)))));
        for (var i = 0; i < 6; i++)
        {
            if (i >= 3)
            {
                await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i)));
            }

            await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync($"call-{i}") == 1, "decided");
        }

        Activity[] processes = [.. spans.Snapshot().Where(s => s.DisplayName == $"{scenario.InputTopic} process")];

        Assert.Equal(6, processes.Length);
        Assert.All(processes, p => Assert.Equal(default, p.ParentSpanId));
        Assert.Equal(6, processes.Select(p => p.TraceId).Distinct().Count());
    }

    [Fact]
    public async Task A_trace_is_continuous_from_the_Kafka_header_through_gRPC_to_the_outcome_event()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var spans = new ExportedSpans();
        await using var service = new ServiceHost(scenario.Settings(), services => services.AddOpenTelemetry().WithTracing(t => t.AddInMemoryExporter(spans))).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var traceId = ActivityTraceId.CreateRandom();
        var probeSpan = ActivitySpanId.CreateRandom();
        var (caller, callee) = (scenario.Number(1), scenario.Number(2));
        var drop = Scenario.Drop("call-traced", caller, callee);
        await scenario.PublishRawAsync(new NetworkEvent { CallDropped = drop }.ToByteArray(), "call-traced", headers: new() { ["traceparent"] = $"00-{traceId}-{probeSpan}-01" });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-traced"))?.State == RecoveryState.Completed, "the recovery completed");
        await Eventually.TrueAsync(() => emulator.Unconfirmed == 0, "every report confirmed");

        // The switch got the trace context in the command; the outcome event carries it on.
        Assert.Equal(traceId.ToString(), emulator.Placed.Values.Single().Traceparent.Split('-')[1]);
        var outcome = scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2))
            .Single(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value).ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome);
        Assert.Equal(traceId.ToString(), Encoding.ASCII.GetString(outcome.Message.Headers.GetLastBytes("traceparent")).Split('-')[1]);

        Activity[] trace = [.. spans.Snapshot().Where(s => s.TraceId == traceId)];

        var names = trace.Select(s => s.DisplayName).ToHashSet();
        foreach (var expected in new[] { $"{scenario.InputTopic} process", "recovery decide", "recovery schedule", "recovery dispatch", "recovery acknowledge", "recovery progress", "recovery outcome", $"{scenario.OutcomeTopic} publish" })
        {
            Assert.Contains(expected, names);
        }

        var process = trace.Single(s => s.DisplayName.EndsWith(" process", StringComparison.Ordinal));
        Assert.Equal(probeSpan, process.ParentSpanId);
        Assert.Equal("kafka", process.GetTagItem("messaging.system"));
        Assert.Equal(scenario.InputTopic, process.GetTagItem("messaging.destination.name"));
        var decide = trace.Single(s => s.DisplayName == "recovery decide");
        Assert.Equal("accepted", decide.GetTagItem("callrecovery.decision.reason"));
        Assert.Equal("q850:41", decide.GetTagItem("callrecovery.release_cause"));
        Assert.Equal("234-15-1a2b-0c", decide.GetTagItem("callrecovery.serving_cell"));
        var dispatch = trace.Single(s => s.DisplayName == "recovery dispatch");
        Assert.Equal("grpc", dispatch.GetTagItem("rpc.system"));
        Assert.Equal("switch-a", dispatch.GetTagItem("callrecovery.switch.id"));
        Assert.All(trace.Where(s => s.Source.Name == "CallRecovery"), s => Assert.True("call-traced".Equals(s.GetTagItem("callrecovery.call_id")), $"{s.DisplayName} names the call"));

        // No span anywhere (of this trace or any other) holds a full phone number.
        var values = spans.Snapshot().SelectMany(s => s.TagObjects).Select(t => Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? string.Empty).ToList();
        Assert.DoesNotContain(values, v => v.Contains(caller, StringComparison.Ordinal) || v.Contains(callee, StringComparison.Ordinal) || FullNumber().IsMatch(v));

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Metrics_show_the_right_values_after_a_scripted_scenario()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        for (var i = 0; i < 3; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i)));
        }

        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(100), Party.Callee));
        await scenario.PublishAsync(Scenario.Drop("hung-up", scenario.Number(7), scenario.Number(8), q850: 16));
        await scenario.PublishRawAsync(Encoding.UTF8.GetBytes("garbage"), "poison");
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, 3).Select(i => scenario.RecoveryAsync($"call-{i}")))).All(r => r?.State == RecoveryState.Completed), "the recoveries completed");

        using var http = service.CreateHttpClient();
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(6, Sum(text, "callrecovery_events_consumed_total"));
        Assert.Equal(3, Sum(text, "callrecovery_decisions_total", "callrecovery_decision_reason", "accepted"));
        Assert.Equal(1, Sum(text, "callrecovery_decisions_total", "callrecovery_decision_reason", "duplicate"));
        Assert.Equal(1, Sum(text, "callrecovery_decisions_total", "callrecovery_decision_reason", "normal_clearing"));
        Assert.Equal(1, Sum(text, "callrecovery_events_dead_lettered_total"));
        Assert.Equal(3, Sum(text, "callrecovery_callbacks_sent_total"));
        Assert.Equal(3, Sum(text, "callrecovery_recoveries_outcomes_total", "callrecovery_outcome", "Reconnected"));
        Assert.Equal(3, Sum(text, "callrecovery_drop_to_callback_duration_seconds_count"));
        Assert.Equal(3, Sum(text, "callrecovery_drop_to_reconnected_duration_seconds_count"));
        Assert.Equal(1, Sum(text, "callrecovery_switch_connections", "callrecovery_switch_id", "switch-a"));
        // What the service asked of Redis's one thread, per multiplexer: the decisions' bulk rounds and the rest.
        Assert.True(Sum(text, "callrecovery_redis_operations_total", "redis_client", "callrecovery-decisions") >= 3, "the decision stage's Redis operations are counted");
        Assert.True(Sum(text, "callrecovery_redis_operations_total", "redis_client", "callrecovery") >= 3, "the other Redis operations are counted");

        // Lag is known once librdkafka has committed and reported statistics.
        await Eventually.TrueAsync(async () => Regex.IsMatch(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)), @"(?m)^callrecovery_consumer_lag\{[^}]*\} 0$"), "the consumer lag gauge shows 0 for the caught-up partition");

        // Every series and label the operations dashboard queries is one the service exports.
        text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var dashboard = Repository.Read("deploy/grafana/dashboards/callrecovery.json");
        foreach (var name in DashboardMetric().Matches(dashboard).Select(m => m.Value).Distinct())
        {
            Assert.True(text.Contains(name, StringComparison.Ordinal), $"the dashboard queries {name}, which /metrics does not show");
        }

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Readiness_flips_when_Redis_stops_and_recovers_when_it_returns()
    {
        await using var redis = await Endpoints.StartRedisAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, redis: redis);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var http = service.CreateHttpClient();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        var health = new Health.HealthClient(channel);

        await Eventually.TrueAsync(async () => (await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready with Redis up");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);

        await redis.StopAsync();
        await Eventually.TrueAsync(async () => (await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.ServiceUnavailable, "not ready with Redis down");
        await Eventually.TrueAsync(async () => (await health.CheckAsync(new HealthCheckRequest())).Status == HealthCheckResponse.Types.ServingStatus.NotServing, "gRPC health says not serving");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);

        await redis.StartAsync();
        await Eventually.TrueAsync(async () => (await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready again with Redis back");
    }

    [Fact]
    public async Task The_lookup_tool_prints_the_timeline_of_a_recovered_and_of_a_suppressed_call()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var customer = scenario.Number(1);
        await scenario.PublishAsync(Scenario.Drop("call-recovered", customer, scenario.Number(2)));
        await scenario.PublishAsync(Scenario.Drop("call-hung-up", customer, scenario.Number(3), q850: 16));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-recovered"))?.State == RecoveryState.Completed && await scenario.DecisionCountAsync("call-hung-up") == 1, "both calls decided");

        var recovered = await LookupAsync(service, "call", "call-recovered");
        Assert.Contains("Call call-recovered: Completed", recovered, StringComparison.Ordinal);
        Assert.Contains("decided: accepted", recovered, StringComparison.Ordinal);
        Assert.Contains("callback sent", recovered, StringComparison.Ordinal);
        Assert.Contains("acknowledged", recovered, StringComparison.Ordinal);
        Assert.Contains("stage: Bridged", recovered, StringComparison.Ordinal);
        Assert.Contains("outcome: Reconnected", recovered, StringComparison.Ordinal);

        var suppressed = await LookupAsync(service, "call", "call-hung-up");
        Assert.Contains("Call call-hung-up: not recovered", suppressed, StringComparison.Ordinal);
        Assert.Contains("decided: normal_clearing", suppressed, StringComparison.Ordinal);
        Assert.Contains("cause q850:16 is not a network drop", suppressed, StringComparison.Ordinal);

        var bySubscriber = await LookupAsync(service, "subscriber", customer);
        Assert.Contains("Call call-recovered", bySubscriber, StringComparison.Ordinal);
        Assert.Contains("Call call-hung-up", bySubscriber, StringComparison.Ordinal);
        Assert.DoesNotContain(customer, recovered + suppressed + bySubscriber, StringComparison.Ordinal);

        var byRecovery = await LookupAsync(service, "recovery", (await scenario.RecoveryIdAsync("call-recovered"))!);
        Assert.Contains("Call call-recovered: Completed", byRecovery, StringComparison.Ordinal);
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_graceful_shutdown_hands_unacknowledged_commands_to_another_replica_at_once()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        // Far longer than the test may wait: only the shutdown's hand-back can move the commands in time.
        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        var leaving = new ServiceHost(settings).Started();
        await using var silent = new EmulatedSwitch(Options(leaving) with { Acknowledge = false, InstanceId = "silent" });
        using var stopSilent = new CancellationTokenSource();
        var silentRun = silent.RunAsync(stopSilent.Token);
        for (var i = 0; i < 5; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(100 + i)));
        }

        await Eventually.TrueAsync(() => silent.Received.Count == 5, "the leaving replica's switch holds every command");
        await leaving.DisposeAsync();
        await stopSilent.CancelAsync();
        await silentRun.DefaultTimeout();

        await using var staying = new ServiceHost(settings).Started();
        await using var emulator = Emulator(staying);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, 5).Select(i => scenario.RecoveryAsync($"call-{i}")))).All(r => r?.State == RecoveryState.Completed), "the other replica delivered them");
        Assert.Equal(5, emulator.Placed.Count);
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    private static async Task<string> LookupAsync(ServiceHost service, string by, string key)
    {
        using var lookup = ServiceProcess.Start(new Dictionary<string, string?>(), "callrecovery-lookup.dll", "--service", service.SwitchingAddress.ToString(), by, key);
        await lookup.WaitForExitAsync();
        Assert.True(lookup.ExitCode == 0, lookup.Output);
        return lookup.Output;
    }

    private static SwitchEmulatorOptions Options(ServiceHost service) =>
        TestSwitch.Options(service, "observed") with { OutcomeMix = new Dictionary<Outcome, double> { [Outcome.Reconnected] = 1 } };

    private static EmulatedSwitch Emulator(ServiceHost service) => new(Options(service));

    /// <summary>Sums a Prometheus metric's samples, optionally only those with a label value.</summary>
    private static double Sum(string exposition, string metric, string? label = null, string? value = null) =>
        Regex.Matches(exposition, $@"(?m)^{Regex.Escape(metric)}(\{{(?<labels>[^}}]*)\}})? (?<value>[-0-9.eE+]+)")
            .Where(m => label is null || m.Groups["labels"].Value.Contains($"{label}=\"{value}\"", StringComparison.Ordinal))
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"\b(callrecovery|messaging)_[a-z_]+")]
    private static partial Regex DashboardMetric();

    [GeneratedRegex(@"\+\d{9,}")]
    private static partial Regex FullNumber();
}
