using CallRecovery.Contracts.V1;
using CallRecovery.Decisions;
using CallRecovery.Hosting;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;
using Google.Protobuf;
using Grpc.Net.Client;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The promises that used to break at the seams between stages, late reports and clocks, each through real Kafka
/// protocol, Redis and HTTP/2 gRPC: a switch that goes silent after accepting, a replay after a crash part-way, a long
/// emergency call, a re-attach stamped by a clock a second off, and an opt-out of a subscriber with many calls since.
/// Where time matters the service runs on a clock the test moves.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class LifecycleSeamTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task A_callback_accepted_and_never_reported_on_ends_no_report_and_a_late_outcome_still_completes_it()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:OutcomeTimeout"] = "00:00:30";
        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        using var clock = new ShiftedClock();
        await using var service = new ServiceHost(settings, clock: clock).Started();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        using var stream = await RawSwitch.HelloAsync(channel, "silent-after-accepting");

        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(1), scenario.Number(2), now: clock.GetUtcNow()));
        var command = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command)).Command;
        await stream.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = command.RecoveryId, Attempt = command.Attempt, Accepted = true } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Acknowledged, "accepted");

        // The switch says nothing more; a minute passes.
        clock.Offset = TimeSpan.FromMinutes(1);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Expired, "ended for want of a report");
        Assert.Equal(nameof(Outcome.NoReport), (await scenario.RecoveryAsync("call-0"))!.Outcome);
        var cancel = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Cancel)).Cancel;
        Assert.Equal((command.RecoveryId, 0u), (cancel.RecoveryId, cancel.Attempt));
        await Eventually.TrueAsync(() => Updates(scenario).Any(u => u.Outcome == Outcome.NoReport), "NO_REPORT published for CRM");

        // The switch's outcome comes after all: billing must know the reconnect happened.
        await stream.RequestStream.WriteAsync(new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = command.RecoveryId, Outcome = Outcome.Reconnected, At = Timestamp.FromDateTimeOffset(clock.GetUtcNow()), TalkTime = new Google.Protobuf.WellKnownTypes.Duration { Seconds = 60 } } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Completed, "completed by the late outcome");
        await Eventually.TrueAsync(() => Updates(scenario).Any(u => u.Outcome == Outcome.Reconnected), "the late outcome published");
        await stream.RequestStream.CompleteAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_replay_after_a_crash_part_way_queues_the_recovery_as_stored_on_its_own_switch(bool decisionRecorded)
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var drop = Scenario.Drop("call-0", scenario.Number(1), scenario.Number(2));
        var dropTime = drop.DropTime.ToDateTimeOffset();
        var db = await scenario.RedisAsync();
        // What a replica that crashed after creating the recovery (and, or not, recording its decision) left: the
        // recovery for switch-a, queued nowhere.
        var recovery = new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For("call-0"),
            CallId = "call-0",
            State = RecoveryState.Pending,
            CallBack = scenario.Number(1),
            OtherParty = scenario.Number(2),
            DropTime = dropTime,
            AcceptedAt = dropTime,
            EventId = drop.EventId,
            SwitchId = "switch-a",
            DueAt = dropTime.AddMilliseconds(200),
            Deadline = dropTime.AddMinutes(5),
        };
        await db.HashSetAsync(scenario.RecoveryKeys.Recovery("call-0"), [.. recovery.ToFields().Select(f => new HashEntry(f.Key, f.Value)), new HashEntry(RecoveryFields.Version, 1)]);
        if (decisionRecorded)
        {
            var decision = new DecisionRecord { EventId = drop.EventId, CallId = "call-0", Reason = DecisionReason.Accepted, DecidedAt = dropTime, RecoveryId = recovery.RecoveryId };
            await db.HashSetAsync(scenario.DecisionKeys.CallDecisions("call-0"), drop.EventId, decision.ToJsonUtf8());
        }

        // The successor runs with another route (a rolling deploy changed it) and replays the event.
        var settings = scenario.Settings();
        settings["Switching:DefaultSwitch"] = "switch-b";
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service));
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        await scenario.PublishAsync(drop);

        await Eventually.TrueAsync(() => emulator.Placed.ContainsKey(recovery.RecoveryId), "switch-a, the stored switch, placed the callback");
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-0") == 1, "the decision recorded");
        Assert.Equal(DecisionReason.Accepted, Assert.Single(await scenario.DecisionsAsync("call-0")).Reason);
        Assert.Equal(0, await db.SortedSetLengthAsync(scenario.DeliveryKeys.Due("switch-b")));
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_long_emergency_call_protects_its_caller_for_the_protection_period_after_it_ends_and_a_psap_callback_while_it_goes_on()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        var (caller, calledBack, friend) = (scenario.Number(1), scenario.Number(2), scenario.Number(3));

        // A 65-minute call to 999 that just ended: protection runs 60 minutes from now, not from its answer.
        var emergency = Scenario.Drop("sos", caller, "999", q850: 16, answeredSeconds: 65 * 60);
        emergency.Emergency = true;
        await scenario.PublishAsync(emergency);
        // The emergency centre called another subscriber back two hours ago, and has not been reported ending.
        await scenario.PublishAsync(new CallConnected { EventId = "psap", CallId = "call-psap", Caller = "112", Callee = calledBack, AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(-2)) });
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("sos") == 1, "the emergency call is read");
        await Eventually.TrueAsync(async () => await (await scenario.RedisAsync()).KeyExistsAsync(scenario.SubscriberKeys.EmergencyProtection(calledBack)), "the PSAP callback is read");

        await scenario.PublishAsync(Scenario.Drop("after-999", caller, friend));
        await scenario.PublishAsync(Scenario.Drop("after-psap", calledBack, friend));

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("after-999") == 1 && await scenario.DecisionCountAsync("after-psap") == 1, "both drops decided");
        Assert.Equal(DecisionReason.EmergencyProtection, Assert.Single(await scenario.DecisionsAsync("after-999")).Reason);
        Assert.Equal(DecisionReason.EmergencyProtection, Assert.Single(await scenario.DecisionsAsync("after-psap")).Reason);
    }

    [Fact]
    public async Task A_reattach_stamped_a_second_before_the_drop_by_a_clock_off_releases_the_callback()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        using var clock = MiddayInLondonYesterday();
        await using var service = new ServiceHost(scenario.Settings(), clock: clock).Started();
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service) with { Clock = clock });
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var customer = scenario.Number(1);
        var radio = Scenario.Drop("radio", customer, scenario.Number(2), Party.Caller, q850: 27, now: clock.GetUtcNow());
        await scenario.PublishAsync(radio);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("radio"))?.State == RecoveryState.Held, "held for the customer's coverage");

        // The MME's clock is behind the one that stamped the drop: it stamps the re-attach a second before the drop.
        await scenario.PublishRawAsync(new NetworkEvent
        {
            SubscriberReachable = new SubscriberReachable { EventId = "attach", Number = customer, At = Timestamp.FromDateTimeOffset(radio.DropTime.ToDateTimeOffset().AddSeconds(-1)), Reason = ReachabilityReason.Attach },
        }.ToByteArray(), customer);

        await Eventually.TrueAsync(() => emulator.Placed.ContainsKey(RecoveryIds.For("radio")), "the customer is called back");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task An_opt_out_cancels_a_callback_out_at_the_switch_however_many_calls_the_subscriber_dropped_since()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        using var stream = await RawSwitch.HelloAsync(channel, "never-acknowledges");
        var customer = scenario.Number(1);
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, scenario.Number(2)));
        var command = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command)).Command;

        // 120 more calls of the customer's, ended normally: the lookup keeps only the latest 100 of a subscriber's calls.
        var start = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 8 * 8);
        await Task.WhenAll(Enumerable.Range(0, 120).Select(i =>
        {
            var later = Scenario.Drop($"later-{i}", customer, scenario.Number(100 + i), q850: 16);
            later.DropTime = Timestamp.FromDateTimeOffset(start.AddMilliseconds(8 * i));
            return scenario.PublishAsync(later);
        }));
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(0, 120).Select(i => scenario.DecisionCountAsync($"later-{i}")))).All(n => n == 1), "every later call decided");

        (await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(customer)}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();

        var cancel = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Cancel)).Cancel;
        Assert.Equal(command.RecoveryId, cancel.RecoveryId);
        Assert.Equal(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-0"))!.State);
        await stream.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task An_opt_out_finds_a_callback_the_switch_accepted_for_as_long_as_it_is_supervised_past_its_deadline()
    {
        // Recoveries are filed for cancels when created, for their deadline and one outcome timeout after it; an
        // acceptance is not filed again (the filing covers its supervision), parties bridged are (hours of it).
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        using var clock = new ShiftedClock();
        await using var service = new ServiceHost(settings, clock: clock).Started();
        using var http = service.CreateHttpClient();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        using var stream = await RawSwitch.HelloAsync(channel, "accepts-and-goes-on");
        var (accepted, bridged) = (scenario.Number(1), scenario.Number(3));
        await scenario.PublishAsync(Scenario.Drop("call-accepted", accepted, scenario.Number(2), now: clock.GetUtcNow()));
        await scenario.PublishAsync(Scenario.Drop("call-bridged", bridged, scenario.Number(4), now: clock.GetUtcNow()));
        var commands = new Dictionary<string, CallbackCommand>(StringComparer.Ordinal);
        while (commands.Count < 2)
        {
            var command = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command)).Command;
            commands[command.RecoveryId] = command;
        }

        foreach (var command in commands.Values)
        {
            await stream.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = command.RecoveryId, Attempt = command.Attempt, Accepted = true } });
        }

        await stream.RequestStream.WriteAsync(new SwitchMessage { Progress = new ProgressReport { RecoveryId = RecoveryIds.For("call-bridged"), Stage = Stage.Bridged, At = Timestamp.FromDateTimeOffset(clock.GetUtcNow()) } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-accepted"))?.State == RecoveryState.Acknowledged, "the first callback accepted");
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-bridged"))?.StageTimes.ContainsKey(nameof(Stage.Bridged)) == true, "the second callback's parties bridged");

        // Ten minutes on: past the deadline (5 min), within the outcome timeout (15 min) of the acceptance.
        clock.Offset = TimeSpan.FromMinutes(10);
        (await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(accepted)}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();
        Assert.Equal(RecoveryIds.For("call-accepted"), (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Cancel)).Cancel.RecoveryId);
        Assert.Equal(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-accepted"))!.State);

        // Two hours on: past the deadline and an outcome timeout after it, within the bridged call's supervision (4 h).
        clock.Offset = TimeSpan.FromHours(2);
        (await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(bridged)}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();
        Assert.Equal(RecoveryIds.For("call-bridged"), (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Cancel)).Cancel.RecoveryId);
        Assert.Equal(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-bridged"))!.State);
        await stream.RequestStream.CompleteAsync();
    }

    /// <summary>
    /// A clock at 12:00 UTC yesterday (midday in London: no quiet hours for the scenario's +44 numbers), 12 to 36 hours
    /// behind Redis's own clock whenever the test runs: what the service keeps must expire by its clock, not Redis's.
    /// </summary>
    private static ShiftedClock MiddayInLondonYesterday()
    {
        var now = DateTimeOffset.UtcNow;
        return new ShiftedClock(new DateTimeOffset(now.Year, now.Month, now.Day, 12, 0, 0, TimeSpan.Zero).AddDays(-1) - now);
    }

    private static List<RecoveryUpdate> Updates(Scenario scenario) =>
        [.. scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2)).Select(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value))];
}
