using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.SwitchEmulator;
using Google.Protobuf.WellKnownTypes;
using CallRecovery.Recoveries;

namespace CallRecovery.IntegrationTests;

/// <summary>End to end: Kafka events, a real Redis, the switch API over real HTTP/2 on loopback, outcomes on Kafka.</summary>
[Collection(RealInfrastructure.Name)]
public sealed class SwitchingTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task Every_eligible_drop_yields_exactly_one_command_at_the_switch_acknowledged_and_reported()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.Settings();
        // A slow acknowledgement on a busy machine must not be resent: one delivery per recovery is asserted.
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = Emulator(service, "switch-a");
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        const int eligible = 20;
        for (var i = 0; i < eligible; i++)
        {
            var (caller, callee) = (scenario.Number(i), scenario.Number(1000 + i));
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", caller, callee, Party.Caller), key: $"a-{i}");
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", caller, callee, Party.Callee), key: $"b-{i}");
        }

        await scenario.PublishAsync(Scenario.Drop("hung-up", scenario.Number(500), scenario.Number(501), q850: 16));
        await scenario.PublishAsync(Scenario.Drop("short", scenario.Number(502), scenario.Number(503), answeredSeconds: 3));

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, eligible).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed");

        Assert.Equal(eligible, emulator.Placed.Count);
        Assert.Equal(eligible, emulator.Received.Count);
        Assert.All(emulator.Received, c => Assert.Equal(1u, c.Attempt));
        Assert.DoesNotContain(emulator.Placed.Values, c => c.CallId is "hung-up" or "short");
        var command = emulator.Placed.Values.First();
        Assert.True(command.Charging.ReconnectLegFree);
        Assert.Equal("recovery.apology.free-reconnect", command.Announcement.PromptId);
        Assert.Equal(command.RecoveryId, command.Charging.ChargingReference);

        // The outcome topic has each recovery's final outcome, keyed by recovery id, after its stages.
        await Eventually.TrueAsync(() => emulator.Unconfirmed == 0, "every report confirmed");
        var updates = scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2))
            .Select(m => (Key: System.Text.Encoding.UTF8.GetString(m.Message.Key!), Update: RecoveryUpdate.Parser.ParseFrom(m.Message.Value))).ToList();
        foreach (var (recoveryId, outcome) in emulator.Outcomes)
        {
            var mine = updates.Where(u => u.Update.RecoveryId == recoveryId).ToList();
            Assert.All(mine, u => Assert.Equal(recoveryId, u.Key));
            Assert.Equal(outcome, mine.Last().Update.Outcome);
        }

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_switch_that_disconnects_mid_stream_gets_its_unacknowledged_commands_again_with_no_duplicate_effect()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.Settings();
        // Long enough that only the broken connection, not the timeout, sends the commands round again.
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var service = new ServiceHost(settings).Started();

        // The switch receives commands but dies before acknowledging them.
        await using var silent = Emulator(service, "switch-a", acknowledge: false);
        using var stopSilent = new CancellationTokenSource();
        var silentRun = silent.RunAsync(stopSilent.Token);
        const int calls = 10;
        for (var i = 0; i < calls; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(() => silent.Received.Count == calls, "the first connection received every command");
        await stopSilent.CancelAsync();
        await silentRun.DefaultTimeout();

        // Its next connection gets them again, as retries, and acts on each once.
        await using var revived = Emulator(service, "switch-a");
        using var stop = new CancellationTokenSource();
        var running = revived.RunAsync(stop.Token);
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed after the reconnection");

        Assert.Equal(calls, revived.Placed.Count);
        Assert.All(revived.Received, c => Assert.True(c.Attempt >= 2, "a resent command is marked as a retry"));
        Assert.Equal(silent.Received.Select(c => c.RecoveryId).Order(), revived.Placed.Keys.Order());
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Unacknowledged_commands_are_sent_again_after_the_timeout_and_the_switch_acts_once()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        // Half the first deliveries are rejected as overloaded: they come again and are placed once.
        await using var busy = Emulator(service, "switch-a", rejectRatio: 0.5);
        using var stop = new CancellationTokenSource();
        var running = busy.RunAsync(stop.Token);
        const int calls = 12;
        for (var i = 0; i < calls; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed");
        Assert.True(busy.Rejected > 0, "some deliveries were rejected");
        Assert.Equal(calls, busy.Placed.Count);
        Assert.True(busy.Received.Count > calls, "rejected commands were delivered again");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Two_service_instances_with_the_switch_connected_to_only_one_deliver_everything_once()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 4);
        var settings = scenario.Settings();
        // Long enough that a slow acknowledgement on a busy machine is not resent: every second delivery
        // counted below could then only come from the two instances sending the same command.
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var deciding = new ServiceHost(settings).Started();
        await using var delivering = new ServiceHost(settings).Started();
        await using var emulator = Emulator(delivering, "switch-a");
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        const int calls = 40;
        for (var i = 0; i < calls; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)), key: $"k-{i}");
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed");
        Assert.Equal(calls, emulator.Placed.Count);
        Assert.Equal(calls, emulator.Received.Count);
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Recoveries_not_delivered_before_their_deadline_expire_with_a_reason()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:CallbackDeadline"] = "00:00:02";
        await using var service = new ServiceHost(settings).Started();

        // No switch is connected: the command waits in Redis until its deadline, then expires.
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Expired, "the recovery expired");
        var expired = await scenario.RecoveryAsync("call-0");
        Assert.Contains("not delivered", expired!.Detail, StringComparison.Ordinal);

        var update = RecoveryUpdate.Parser.ParseFrom(Assert.Single(scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: 1)).Message.Value);
        Assert.Equal(Outcome.Expired, update.Outcome);
        Assert.Equal(expired.RecoveryId, update.RecoveryId);

        // A switch connecting afterwards gets nothing.
        await using var late = Emulator(service, "switch-a");
        using var stop = new CancellationTokenSource();
        var running = late.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => late.IsConnected, "the late switch connected");
        await scenario.PublishAsync(Scenario.Drop("call-1", scenario.Number(2), scenario.Number(3)));
        await Eventually.TrueAsync(() => late.Received.Count > 0, "a fresh recovery reached the late switch");
        Assert.Equal(["call-1"], late.Received.Select(c => c.CallId).Distinct());
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_redial_between_the_parties_cancels_the_recovery()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        // The redial alone cancels (nothing is due before the wait below ends), and the two connect reports below are read
        // as one batch: the dropped call's own, which cancels nothing, once hid the redial after it.
        // (That the callback then never goes out, past its due time, is SafetyTests'.)
        await using var service = new ServiceHost(scenario.ReadTogetherSettings()).Started();

        var (caller, callee) = (scenario.Number(0), scenario.Number(1));
        var drop = Scenario.Drop("call-0", caller, callee);
        await scenario.PublishAsync(drop);
        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("call-0") is not null, "the recovery was decided before the redial");
        // The dropped call's own connect report (older than the drop) cancels nothing; the callee calling back does.
        // Published together (in this order, one partition): read in one batch.
        await Task.WhenAll(
            scenario.PublishAsync(new CallConnected { EventId = "c-own", CallId = "call-0", Caller = caller, Callee = callee, AnswerTime = drop.AnswerTime }),
            scenario.PublishAsync(new CallConnected { EventId = "c-redial", CallId = "call-redial", Caller = callee, Callee = caller, AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) }));

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Cancelled, "the recovery was cancelled");
        var update = RecoveryUpdate.Parser.ParseFrom(Assert.Single(scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: 1)).Message.Value);
        Assert.Equal(Outcome.Cancelled, update.Outcome);
        Assert.Contains("reached each other", update.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_report_that_cannot_be_read_is_refused_on_its_own_and_the_stream_goes_on()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(service.SwitchingAddress);
        using var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: new CancellationTokenSource(Eventually.Limit).Token);
        await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = "switch-a", InstanceId = "raw-1" } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(ServiceMessage.MessageOneofCase.Welcome, call.ResponseStream.Current.MessageCase);

        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1)));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var command = call.ResponseStream.Current.Command;
        Assert.NotNull(command);
        await call.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = command.RecoveryId, Attempt = command.Attempt, Accepted = true } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(command.Attempt, call.ResponseStream.Current.ReportReceived.AcceptedAttempt);

        // A timestamp out of range, a duration out of range, an unknown stage, a recovery id that is none: each refused, none ends the stream.
        SwitchMessage[] unreadable =
        [
            new() { Progress = new ProgressReport { RecoveryId = command.RecoveryId, Stage = Stage.CustomerRinging, At = new Timestamp { Seconds = 1, Nanos = -5 } } },
            new() { Outcome = new OutcomeReport { RecoveryId = command.RecoveryId, Outcome = Outcome.Reconnected, TalkTime = new Duration { Seconds = -30 } } },
            new() { Progress = new ProgressReport { RecoveryId = command.RecoveryId, Stage = (Stage)99 } },
            new() { Outcome = new OutcomeReport { RecoveryId = "+447700900123", Outcome = Outcome.Busy } },
        ];
        foreach (var message in unreadable)
        {
            await call.RequestStream.WriteAsync(message);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            var refused = call.ResponseStream.Current.ReportRefused;
            Assert.NotNull(refused);
            Assert.Equal(RefusalReason.Malformed, refused.Reason);
            Assert.DoesNotContain("+447700900123", refused.ToString(), StringComparison.Ordinal);
        }

        // The same stream still takes good reports.
        await call.RequestStream.WriteAsync(new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = command.RecoveryId, Outcome = Outcome.NoAnswer, At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(Outcome.NoAnswer, call.ResponseStream.Current.ReportReceived.Outcome);
        Assert.Equal(RecoveryState.Completed, (await scenario.RecoveryAsync("call-0"))!.State);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task A_command_not_acknowledged_in_time_is_sent_again_as_the_next_attempt()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:StuckConnectionGrace"] = "00:00:01";
        await using var service = new ServiceHost(settings).Started();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(service.SwitchingAddress);
        using var stuck = await HelloAsync(channel, "raw-1");

        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1)));
        var first = await NextCommandAsync(stuck);
        Assert.Equal(1u, first.Attempt);
        // No acknowledgement: after Switching:AcknowledgementTimeout (1 s here) the stream counts as stuck, gets no
        // new command, and is closed after the grace; the switch reconnects and gets the same recovery again.
        var closed = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await stuck.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(Grpc.Core.StatusCode.Unavailable, closed.StatusCode);
        using var call = await HelloAsync(channel, "raw-1");
        var second = await NextCommandAsync(call);
        Assert.Equal(first.RecoveryId, second.RecoveryId);
        Assert.Equal(2u, second.Attempt);
        Assert.Equal(Priority.High, second.Priority);

        await call.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = second.RecoveryId, Attempt = second.Attempt, Accepted = true } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Acknowledged, "acknowledged");
        Assert.Equal(2, (await scenario.RecoveryAsync("call-0"))!.Attempts);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task A_late_acceptance_after_a_rejection_is_recorded_and_a_later_opt_out_cancels_the_callback_at_the_switch()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        // Not offered again before the acceptance is taken: the test is about what the acceptance does.
        settings["Switching:RejectionBackoff"] = "00:01:00";
        await using var service = new ServiceHost(settings).Started();
        using var client = service.CreateHttpClient();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(service.SwitchingAddress);
        using var call = await HelloAsync(channel, "raw-1");

        var customer = scenario.Number(0);
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, scenario.Number(1)));
        var first = await NextCommandAsync(call);
        await call.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = first.RecoveryId, Attempt = 1, Accepted = false, RejectReason = RejectReason.Overloaded } });
        // The same delivery accepted after all (the switch's rejection and acceptance crossed): it is calling the customer.
        await call.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = first.RecoveryId, Attempt = 1, Accepted = true } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Acknowledged, "the late acceptance is recorded");

        // The customer opts out while the switch calls them: the switch is told to stop (it used to get nothing).
        (await client.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(customer)}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();
        // (The acceptance's confirmation comes first: the go signal.)
        var cancel = await RawSwitch.NextAsync(call, ServiceMessage.MessageOneofCase.Cancel);
        Assert.Equal((first.RecoveryId, 1u, 0u), (cancel.Cancel.RecoveryId, cancel.Cancel.CallbackAttempt, cancel.Cancel.Attempt));
        Assert.Equal(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-0"))!.State);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Retries_of_a_stuck_instance_go_to_the_healthy_instance_of_the_same_switch()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        // The stuck instance stays connected for the whole test: only routing keeps retries away from it.
        settings["Switching:StuckConnectionGrace"] = "00:10:00";
        await using var service = new ServiceHost(settings).Started();
        await using var frozen = Emulator(service, "switch-a", acknowledge: false);
        using var stop = new CancellationTokenSource();
        var frozenRun = frozen.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => frozen.IsConnected, "the frozen instance is connected first");
        await using var healthy = Emulator(service, "switch-a");
        var healthyRun = healthy.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => healthy.IsConnected, "the healthy instance is connected");

        const int calls = 20;
        for (var i = 0; i < calls; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed");
        Assert.Equal(calls, healthy.Placed.Count);
        // Whatever timed out on the frozen instance went elsewhere: it only ever saw first attempts.
        Assert.All(frozen.Received, c => Assert.Equal(1u, c.Attempt));
        await stop.CancelAsync();
        await Task.WhenAll(frozenRun, healthyRun).DefaultTimeout();
    }

    [Fact]
    public async Task While_Kafka_is_down_switch_reports_are_confirmed_and_their_outcomes_follow_when_it_returns()
    {
        await using var kafka = await Endpoints.StartKafkaAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, kafka: kafka);
        var settings = scenario.Settings();
        settings["Switching:GracePeriod"] = "00:00:03";
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = Emulator(service, "switch-a");
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        const int calls = 5;
        for (var i = 0; i < calls; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}")))).All(r => r is not null), "decided");
        await kafka.StopAsync();

        // Dispatch, acknowledgements and reports need only Redis: every report is confirmed while Kafka is away.
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, calls).Select(i => scenario.RecoveryAsync($"call-{i}"))))
            .All(r => r?.State == RecoveryState.Completed), "every recovery completed with Kafka down");
        await Eventually.TrueAsync(() => emulator.Unconfirmed == 0, "every report confirmed with Kafka down");
        Assert.Equal(calls, emulator.Placed.Count);

        await kafka.StartAsync();
        await Eventually.TrueAsync(() => scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2))
            .Select(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value)).Where(u => u.ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome)
            .Select(u => u.RecoveryId).Distinct().Count() == calls, "every outcome published once Kafka is back");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    private static async Task<Grpc.Core.AsyncDuplexStreamingCall<SwitchMessage, ServiceMessage>> HelloAsync(Grpc.Net.Client.GrpcChannel channel, string instance)
    {
        var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: new CancellationTokenSource(Eventually.Limit).Token);
        await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = "switch-a", InstanceId = instance } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(ServiceMessage.MessageOneofCase.Welcome, call.ResponseStream.Current.MessageCase);
        return call;
    }

    /// <summary>The next command on the stream; a cancel or anything else first fails the test.</summary>
    private static async Task<CallbackCommand> NextCommandAsync(Grpc.Core.AsyncDuplexStreamingCall<SwitchMessage, ServiceMessage> call)
    {
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var message = call.ResponseStream.Current;
        Assert.Equal(ServiceMessage.MessageOneofCase.Command, message.MessageCase);
        return message.Command;
    }

    private static EmulatedSwitch Emulator(ServiceHost service, string switchId, bool acknowledge = true, double rejectRatio = 0) =>
        new(TestSwitch.Options(service, "test-" + switchId) with { SwitchId = switchId, Acknowledge = acknowledge, RejectRatio = rejectRatio });
}
