using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.SwitchEmulator;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// No one is called who shouldn't be, at the moment the phone would ring: emergency calls, opt-outs and
/// redials that arrive after the decision, in any order, and drops that are too old to act on.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class SafetyTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task An_emergency_call_during_the_grace_period_cancels_the_callback()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(WithGrace(scenario)).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, friend));
        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("call-0") is not null, "the recovery is decided");
        // The customer dials 999 (no emergency flag on the event: the number alone says it).
        await scenario.PublishAsync(new CallConnected { EventId = "sos", CallId = "call-sos", Caller = customer, Callee = "999", AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) });

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Cancelled, "the recovery is cancelled");
        Assert.Contains("emergency", (await scenario.RecoveryAsync("call-0"))!.Detail, StringComparison.Ordinal);
        await AssertNeverSentAsync(scenario, emulator, "call-0");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task An_opt_out_during_the_grace_period_cancels_the_callback()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(WithGrace(scenario)).Started();
        using var client = service.CreateHttpClient();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, friend));
        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("call-0") is not null, "the recovery is decided");
        // The party to reconnect opts out: we must not ring the customer to connect them to someone who said no.
        (await client.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(friend)}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Cancelled, "the recovery is cancelled");
        Assert.Contains("opted out", (await scenario.RecoveryAsync("call-0"))!.Detail, StringComparison.Ordinal);
        await AssertNeverSentAsync(scenario, emulator, "call-0");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task The_dispatch_step_rechecks_an_opt_out_written_after_the_decision()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(WithGrace(scenario)).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, friend));
        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("call-0") is not null, "the recovery is decided");
        // Written straight to Redis, as a CRM write on another replica racing the dispatch would be: only the dispatch check can see it.
        await (await scenario.RedisAsync()).StringSetAsync(scenario.SubscriberKeys.OptOut(customer), "test");

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Cancelled, "the recovery is cancelled at dispatch");
        var cancelled = (await scenario.RecoveryAsync("call-0"))!;
        Assert.Equal("the customer opted out since the decision", cancelled.Detail);
        // Nothing went out, and the lookup says so (it used to say "callback sent": the dispatch was marked before the check).
        Assert.Equal((0, (DateTimeOffset?)null), (cancelled.Attempts, cancelled.FirstDispatchedAt));
        Assert.DoesNotContain(Lookup.Timelines.Build("call-0", [], cancelled).Entries, e => e.What == "callback sent");
        await AssertNeverSentAsync(scenario, emulator, "call-0");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_redial_during_the_grace_period_cancels_only_the_callback_between_those_two()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(WithGrace(scenario)).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var (customer, friend, someoneElse) = (scenario.Number(1), scenario.Number(2), scenario.Number(3));
        var (other, otherFriend) = (scenario.Number(4), scenario.Number(5));
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, friend));
        await scenario.PublishAsync(Scenario.Drop("call-1", other, otherFriend));
        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("call-0") is not null && await scenario.RecoveryAsync("call-1") is not null, "both recoveries are decided");
        // In the grace period the customer calls someone else (the service finds their recovery through them, and must
        // leave it), and the other pair reach each other (that callback is not needed any more).
        var now = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        await scenario.PublishAsync(new CallConnected { EventId = "elsewhere", CallId = "call-elsewhere", Caller = customer, Callee = someoneElse, AnswerTime = now });
        await scenario.PublishAsync(new CallConnected { EventId = "redial", CallId = "call-redial", Caller = otherFriend, Callee = other, AnswerTime = now });

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-1"))?.State == RecoveryState.Cancelled, "the redialled recovery is cancelled");
        // One partition, read in order: the call to someone else was handled by now too.
        Assert.NotEqual(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-0"))!.State);
        await Eventually.TrueAsync(() => emulator.Received.Any(c => c.CallId == "call-0"), "the customer is called back");
        Assert.NotEqual(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-0"))!.State);
        Assert.DoesNotContain(emulator.Received, c => c.CallId == "call-1");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task An_emergency_centre_calling_back_protects_the_person_it_calls()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        await scenario.PublishAsync(new CallConnected { EventId = "psap", CallId = "call-psap", Caller = "112", Callee = customer, AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(-30)) });
        await Eventually.TrueAsync(async () => await (await scenario.RedisAsync()).KeyExistsAsync(scenario.SubscriberKeys.EmergencyProtection(customer)), "the customer is protected");
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, friend));

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-0") == 1, "the drop is decided");
        Assert.Equal(DecisionReason.EmergencyProtection, Assert.Single(await scenario.DecisionsAsync("call-0")).Reason);
    }

    [Fact]
    public async Task A_redial_that_arrives_before_the_drop_means_no_callback()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        await using var service = new ServiceHost(scenario.Settings()).Started();

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        var drop = Scenario.Drop("call-0", customer, friend);
        // The redial (after the drop) is published first, on the other partition, as a second network element would.
        await scenario.PublishRawAsync(new NetworkEvent { CallConnected = new CallConnected { EventId = "redial", CallId = "call-redial", Caller = friend, Callee = customer, AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) } }.ToByteArray(), "redial", partition: 0);
        await Eventually.TrueAsync(async () => await (await scenario.RedisAsync()).KeyExistsAsync(scenario.SubscriberKeys.PairConnections(customer, friend)), "the redial is remembered");
        await scenario.PublishRawAsync(new NetworkEvent { CallDropped = drop }.ToByteArray(), "call-0", partition: 1);

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-0") == 1, "the drop is decided");
        var decision = Assert.Single(await scenario.DecisionsAsync("call-0"));
        Assert.Equal(DecisionReason.ReconnectedAlready, decision.Reason);
        Assert.Null(await scenario.RecoveryAsync("call-0"));
        Assert.Null(await (await scenario.RedisAsync()).SortedSetScoreAsync(scenario.DecisionKeys.SubscriberWindow(customer), "call-0"));
    }

    [Fact]
    public async Task A_redial_read_in_the_same_batch_as_the_drop_means_no_callback_even_on_a_clock_a_second_behind()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.ReadTogetherSettings()).Started();

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        var drop = Scenario.Drop("call-0", customer, friend);
        // One batch: the drop, the dropped call's own connect report (not a redial), and the friend calling back, stamped
        // by an element whose clock runs a second behind the one that reported the drop (inside the clock tolerance).
        await Task.WhenAll(
            scenario.PublishAsync(drop),
            scenario.PublishAsync(new CallConnected { EventId = "own", CallId = "call-0", Caller = customer, Callee = friend, AnswerTime = drop.AnswerTime }),
            scenario.PublishAsync(new CallConnected { EventId = "redial", CallId = "call-redial", Caller = friend, Callee = customer, AnswerTime = Timestamp.FromDateTimeOffset(drop.DropTime.ToDateTimeOffset().AddSeconds(-1)) }));

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-0") == 1, "the drop is decided");
        Assert.Equal(DecisionReason.ReconnectedAlready, Assert.Single(await scenario.DecisionsAsync("call-0")).Reason);
        Assert.Null(await scenario.RecoveryAsync("call-0"));
    }

    [Fact]
    public async Task The_dropped_calls_own_connect_report_in_the_same_batch_is_not_a_redial()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.ReadTogetherSettings();
        settings["Classification:MinimumAnsweredDuration"] = "00:00:00";
        await using var service = new ServiceHost(settings).Started();

        // A call dropped half a second after it was answered: its own connect report is inside the clock tolerance of the
        // drop, so only its call id tells it from a redial.
        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        var drop = Scenario.Drop("call-0", customer, friend, answeredSeconds: 0.5);
        await Task.WhenAll(
            scenario.PublishAsync(drop),
            scenario.PublishAsync(new CallConnected { EventId = "own", CallId = "call-0", Caller = customer, Callee = friend, AnswerTime = drop.AnswerTime }));

        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("call-0") is not null, "the drop is recovered");
        Assert.Equal(DecisionReason.Accepted, Assert.Single(await scenario.DecisionsAsync("call-0")).Reason);
    }

    [Fact]
    public async Task A_stale_drop_takes_no_place_and_the_next_fresh_drop_is_recovered()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Policy:CoolOff"] = "00:10:00";
        settings["Policy:MaxRecoveriesPerWindow"] = "3";
        await using var service = new ServiceHost(settings).Started();

        var (customer, friend) = (scenario.Number(1), scenario.Number(2));
        var old = Scenario.Drop("call-old", customer, friend);
        old.AnswerTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(-1).AddMinutes(-3));
        old.DropTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(-1));
        await scenario.PublishAsync(old);
        await scenario.PublishAsync(Scenario.Drop("call-fresh", customer, friend));

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-old") == 1 && await scenario.DecisionCountAsync("call-fresh") == 1, "both drops are decided");
        Assert.Equal(DecisionReason.Stale, Assert.Single(await scenario.DecisionsAsync("call-old")).Reason);
        Assert.Null(await scenario.RecoveryAsync("call-old"));
        Assert.Equal(DecisionReason.Accepted, Assert.Single(await scenario.DecisionsAsync("call-fresh")).Reason);
        var window = await (await scenario.RedisAsync()).SortedSetRangeByRankAsync(scenario.DecisionKeys.SubscriberWindow(customer));
        Assert.Equal(["call-fresh"], window.Select(v => v.ToString()));
    }

    [Fact]
    public async Task A_crash_between_reserving_and_settling_leaves_no_phantom_place()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var (customer, friend, optedOut) = (scenario.Number(1), scenario.Number(2), scenario.Number(3));
        var db = await scenario.RedisAsync();
        // What a replica that crashed after reserving and before settling leaves behind: places, no decisions.
        var blocked = Scenario.Drop("call-blocked", customer, optedOut);
        var accepted = Scenario.Drop("call-accepted", customer, friend);
        await db.SortedSetAddAsync(scenario.DecisionKeys.SubscriberWindow(customer), "call-blocked", blocked.DropTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
        await db.SortedSetAddAsync(scenario.DecisionKeys.SubscriberWindow(customer), "call-accepted", accepted.DropTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
        await db.StringSetAsync(scenario.SubscriberKeys.OptOut(optedOut), "crm");

        // The successor replays both events.
        await using var service = new ServiceHost(scenario.Settings()).Started();
        await scenario.PublishAsync(blocked);
        await scenario.PublishAsync(accepted);

        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("call-blocked") == 1 && await scenario.DecisionCountAsync("call-accepted") == 1, "both replays are decided");
        Assert.Equal(DecisionReason.OptedOut, Assert.Single(await scenario.DecisionsAsync("call-blocked")).Reason);
        Assert.Equal(DecisionReason.Accepted, Assert.Single(await scenario.DecisionsAsync("call-accepted")).Reason);
        var window = await db.SortedSetRangeByRankAsync(scenario.DecisionKeys.SubscriberWindow(customer));
        Assert.Equal(["call-accepted"], window.Select(v => v.ToString()));
        Assert.Equal(RecoveryIds.For("call-accepted"), await scenario.RecoveryIdAsync("call-accepted"));
    }

    private static Dictionary<string, string?> WithGrace(Scenario scenario)
    {
        var settings = scenario.Settings();
        // Long enough for the test to act inside it on a busy machine.
        settings["Switching:GracePeriod"] = "00:00:08";
        return settings;
    }

    private static async Task AssertNeverSentAsync(Scenario scenario, EmulatedSwitch emulator, string callId)
    {
        // The command's due time has passed and the cancellation is published: it will never be sent now.
        var update = RecoveryUpdate.Parser.ParseFrom(Assert.Single(scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: 1)).Message.Value);
        Assert.Equal(Outcome.Cancelled, update.Outcome);
        Assert.Equal(callId, update.CallId);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync(callId))!.DueAt < DateTimeOffset.UtcNow.AddSeconds(-1), "past the due time");
        Assert.DoesNotContain(emulator.Received, c => c.CallId == callId);
    }

    private static EmulatedSwitch Emulator(ServiceHost service) => new(TestSwitch.Options(service));
}
