using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.Hosting;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// When callbacks go, end to end (Kafka events, real Redis, the switch API over HTTP/2, outcomes on Kafka): outages
/// hold them and release them at the switch's rate, a radio loss waits for the customer's coverage, no answer is
/// tried again, and delayed callbacks keep out of quiet hours.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class CallbackTimingTests(Infrastructure infrastructure)
{
    private const string OutageCell = "234-15-dead-01";

    [Fact]
    public async Task An_outage_of_one_cell_is_one_incident_nothing_is_dispatched_until_the_cell_is_back_and_then_never_faster_than_the_switch_declared()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        await using var service = new ServiceHost(scenario.OutageSettings()).Started();
        const uint rate = 100;
        await using var emulator = Emulator(service, rate: rate);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => emulator.IsConnected, "the switch connected");

        const int drops = 500;
        await Task.WhenAll(Enumerable.Range(0, drops).Select(i =>
        {
            var drop = Scenario.Drop($"out-{i}", scenario.Number(i), scenario.Number(5000 + i));
            drop.ServingCell = OutageCell;
            return scenario.PublishAsync(drop);
        }));

        // Every recovery is held by the one incident, and the switch got nothing.
        await Eventually.TrueAsync(async () => (await Recoveries(scenario, "out-", drops)).All(r => r?.State == RecoveryState.Held), "every recovery of the cell held");
        var held = await Recoveries(scenario, "out-", drops);
        var incidents = held.Select(r => r!.Incident).Distinct().ToList();
        Assert.Single(incidents);
        Assert.StartsWith("cell-", incidents[0], StringComparison.Ordinal);
        Assert.Equal(1, await (await scenario.RedisAsync()).SortedSetLengthAsync(scenario.OutageKeys.Incidents()));

        // Past every grace period, and a sweep after it, the cell still down: nothing went to the switch, all still held.
        var lastDue = held.Max(r => r!.DueAt);
        await Eventually.TrueAsync(() => DateTimeOffset.UtcNow > lastDue.AddSeconds(1), "past every callback's due time");
        Assert.Empty(emulator.Received);
        Assert.All(await Recoveries(scenario, "out-", drops), r => Assert.Equal(RecoveryState.Held, r!.State));
        using var http = service.CreateHttpClient();
        var incident = await http.GetFromJsonAsync<JsonElement>(new Uri($"/v1/incidents/{incidents[0]}", UriKind.Relative));
        Assert.Equal("open", incident.GetProperty("state").GetString());
        Assert.Equal(OutageCell, incident.GetProperty("name").GetString());
        Assert.True(incident.GetProperty("drops").GetInt64() >= 20);

        // The cell is back: everything goes, paced at the rate the switch declared.
        await scenario.CellBackAsync(OutageCell);
        await Eventually.TrueAsync(() => emulator.Placements.Count == drops, "every held recovery dispatched after the cell came back", TimeSpan.FromMinutes(2));
        var times = emulator.Placements.Select(p => p.At).Order().ToList();
        var busiestSecond = times.Select((t, i) => times.Skip(i).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count()).Max();
        // The service sends no second more than the rate; 5 % more is allowed for the network bunching arrivals at the switch.
        Assert.True(busiestSecond <= rate * 1.05, $"at most {rate}/s reached the switch; the busiest second had {busiestSecond}");
        var released = await Recoveries(scenario, "out-", drops);
        Assert.All(released, r => Assert.NotNull(r!.ReleasedAt));
        var ended = await http.GetFromJsonAsync<JsonElement>(new Uri($"/v1/incidents/{incidents[0]}", UriKind.Relative));
        Assert.Equal("ended", ended.GetProperty("state").GetString());
        Assert.Equal(drops, ended.GetProperty("held").GetInt64());

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Recoveries_held_by_an_outage_that_outlasts_their_deadline_end_outage_not_recovered()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.Settings();
        settings["Outage:Enabled"] = "true";
        settings["Outage:CellThreshold"] = "20";
        settings["Outage:NodeThreshold"] = "100000";
        settings["Switching:GracePeriod"] = "00:00:01";
        settings["Switching:CallbackDeadline"] = "00:00:08";
        // No switch is connected: nothing could be sent anyway, and the cell never comes back.
        await using var service = new ServiceHost(settings).Started();
        const int drops = 25;
        await Task.WhenAll(Enumerable.Range(0, drops).Select(i =>
        {
            var drop = Scenario.Drop($"lost-{i}", scenario.Number(i), scenario.Number(5000 + i));
            drop.DropTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
            drop.ServingCell = OutageCell;
            return scenario.PublishAsync(drop);
        }));

        await Eventually.TrueAsync(async () => (await Recoveries(scenario, "lost-", drops)).All(r => r?.State == RecoveryState.Expired), "every held recovery ended at its deadline");
        var recoveries = await Recoveries(scenario, "lost-", drops);
        Assert.All(recoveries, r => Assert.Equal(nameof(Outcome.OutageNotRecovered), r!.Outcome));
        var incident = Assert.Single(recoveries.Select(r => r!.Incident).Distinct());
        List<RecoveryUpdate> updates = [];
        await Eventually.TrueAsync(() => (updates = [.. OutcomeUpdates(scenario).Where(u => u.Outcome == Outcome.OutageNotRecovered)]).Count >= drops, "every outcome published for CRM's apology");
        Assert.All(updates, u => Assert.Equal(incident, u.IncidentId));
    }

    [Fact]
    public async Task A_radio_loss_drop_waits_for_the_customer_to_be_reachable_while_another_drop_keeps_the_grace_period()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.Settings();
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = Emulator(service);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        var customer = scenario.Number(1);
        var radio = Scenario.Drop("radio-loss", customer, scenario.Number(2), Party.Caller);
        radio.ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Radio, Name = "radio-connection-with-ue-lost" };
        await scenario.PublishAsync(radio);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("radio-loss"))?.State == RecoveryState.Held, "the radio-loss recovery waits");

        // A drop of another cause, decided after it, keeps the grace period: once its callback is out, the radio
        // loss's grace period has passed too, and it was not sent.
        await scenario.PublishAsync(Scenario.Drop("other-cause", scenario.Number(3), scenario.Number(4)));
        await Eventually.TrueAsync(() => emulator.Placed.Values.Any(c => c.CallId == "other-cause"), "the other drop called back after the grace period");
        Assert.DoesNotContain(emulator.Received, c => c.CallId == "radio-loss");
        var waiting = await scenario.RecoveryAsync("radio-loss");
        Assert.Equal(RecoveryState.Held, waiting!.State);
        Assert.Equal(RecoveryLifecycle.HoldForReachability, waiting.Hold);

        // The phone re-attaches: the callback is due at once.
        await scenario.PublishRawAsync(new NetworkEvent
        {
            SubscriberReachable = new SubscriberReachable { EventId = "reattach-1", Number = customer, At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), Reason = ReachabilityReason.Attach },
        }.ToByteArray(), customer);
        await Eventually.TrueAsync(() => emulator.Placed.Values.Any(c => c.CallId == "radio-loss"), "the callback went once the customer was reachable");
        var released = await scenario.RecoveryAsync("radio-loss");
        Assert.NotNull(released!.ReleasedAt);
        Assert.Equal(released.ReleasedAt, released.DueAt);
        Assert.True(released.Delayed, "a callback that waited is a delayed one (quiet hours apply)");

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_radio_loss_whose_customer_never_comes_back_ends_customer_unreachable_at_the_deadline()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.Settings();
        settings["Switching:CallbackDeadline"] = "00:00:03";
        await using var service = new ServiceHost(settings).Started();
        var radio = Scenario.Drop("gone", scenario.Number(1), scenario.Number(2), Party.Caller);
        radio.DropTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        radio.ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Q850, Code = 27 };
        await scenario.PublishAsync(radio);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("gone"))?.State == RecoveryState.Expired, "the waiting recovery expired");
        Assert.Equal(nameof(Outcome.CustomerUnreachable), (await scenario.RecoveryAsync("gone"))!.Outcome);
        await Eventually.TrueAsync(() => OutcomeUpdates(scenario).Any(u => u.Outcome == Outcome.CustomerUnreachable), "the outcome published for CRM");
    }

    [Fact]
    public async Task No_answer_is_tried_again_after_the_gap_as_a_new_callback_of_the_same_recovery()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = RetrySettings(scenario);
        await using var service = new ServiceHost(settings).Started();
        await using var emulator = Emulator(service, firstCallback: Outcome.NoAnswer);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        await scenario.PublishAsync(Scenario.Drop("unanswered", scenario.Number(1), scenario.Number(2)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("unanswered"))?.State == RecoveryState.Completed, "the recovery completed on its second callback");

        var recovery = (await scenario.RecoveryAsync("unanswered"))!;
        Assert.Equal(nameof(Outcome.Reconnected), recovery.Outcome);
        Assert.Equal(2, recovery.CallbackAttempt);
        var first = Assert.Single(recovery.EarlierCallbacks);
        Assert.Equal(nameof(Outcome.NoAnswer), first.Outcome);
        Assert.True(recovery.DueAt - first.At >= TimeSpan.FromSeconds(1), "the second callback was due a gap after the first one's outcome");

        // Two commands acted on, one per callback, same recovery id, deliveries counting up.
        var placed = emulator.Placements.Where(p => p.RecoveryId == recovery.RecoveryId).Select(p => p.CallbackAttempt).Order().ToList();
        Assert.Equal([1u, 2u], placed);
        var commands = emulator.Received.Where(c => c.RecoveryId == recovery.RecoveryId).ToList();
        Assert.True(commands.Last().Attempt > commands.First().Attempt);

        // The outcome stream shows each callback: no answer (another follows), then the final outcome.
        List<RecoveryUpdate> outcomes = [];
        await Eventually.TrueAsync(() => (outcomes = [.. OutcomeUpdates(scenario).Where(u => u.RecoveryId == recovery.RecoveryId)]).Count >= 2, "both callbacks' outcomes published");
        var unanswered = outcomes.SingleOrDefault(u => u.Outcome == Outcome.NoAnswer);
        Assert.True(unanswered is not null, "one no-answer update: " + string.Join(", ", outcomes.Select(u => $"{u.Outcome}#{u.CallbackAttempt}")));
        Assert.Equal(1u, unanswered!.CallbackAttempt);
        Assert.NotNull(unanswered.NextAttemptAt);
        var final = Assert.Single(outcomes, u => u.Outcome == Outcome.Reconnected);
        Assert.Equal(2u, final.CallbackAttempt);
        Assert.Null(final.NextAttemptAt);

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_customer_who_declines_is_never_called_again()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        await using var service = new ServiceHost(RetrySettings(scenario)).Started();
        await using var emulator = Emulator(service, firstCallback: Outcome.CustomerDeclined);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        await scenario.PublishAsync(Scenario.Drop("declined", scenario.Number(1), scenario.Number(2)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("declined"))?.State == RecoveryState.Completed, "the recovery completed");
        var recovery = (await scenario.RecoveryAsync("declined"))!;
        Assert.Equal(nameof(Outcome.CustomerDeclined), recovery.Outcome);
        Assert.Equal(1, recovery.CallbackAttempt);
        Assert.Empty(recovery.EarlierCallbacks);
        Assert.Single(emulator.Placements, p => p.RecoveryId == recovery.RecoveryId);

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_retry_due_in_quiet_hours_waits_for_their_end_and_the_topic_says_when_it_will_go()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        // 06:00 in the customer's zone, whatever the hour of the run: quiet until 09:00, and the deadline (4 h) after that.
        using var clock = At(6);
        var settings = QuietHoursOn(scenario, deadline: TimeSpan.FromHours(4));
        await using var service = new ServiceHost(settings, clock: clock).Started();
        await using var emulator = Emulator(service, firstCallback: Outcome.NoAnswer, clock: clock);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        await scenario.PublishAsync(Scenario.Drop("night", scenario.Number(1), scenario.Number(2), now: clock.GetUtcNow()));
        // The first callback, right after the drop, goes even in quiet hours; the retry is put off until they end.
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("night")) is { DeferredAt: not null }, "the retry put off for quiet hours");
        var recovery = (await scenario.RecoveryAsync("night"))!;
        var quietEnd = Today(clock, 9);
        Assert.Equal((RecoveryState.Pending, quietEnd, 2), (recovery.State, recovery.DueAt, recovery.CallbackAttempt));
        Assert.Single(emulator.Placements, p => p.RecoveryId == recovery.RecoveryId);
        // The topic says the callback moved (the no-answer outcome's next_attempt_at was a second after it).
        await Eventually.TrueAsync(() => Updates(scenario).Any(u => u.ChangeCase == RecoveryUpdate.ChangeOneofCase.Deferral && u.NextAttemptAt.ToDateTimeOffset() == quietEnd), "the deferral published with the new time");

        // 09:00 comes: the second callback goes.
        clock.Offset += quietEnd - clock.GetUtcNow() + TimeSpan.FromSeconds(1);
        await Eventually.TrueAsync(() => emulator.Placements.Count(p => p.RecoveryId == recovery.RecoveryId) == 2, "the second callback placed when quiet hours end");

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_retry_due_in_quiet_hours_that_outlast_the_deadline_ends_with_the_quiet_hours_outcome()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        using var clock = At(22);
        await using var service = new ServiceHost(QuietHoursOn(scenario, deadline: TimeSpan.FromMinutes(1)), clock: clock).Started();
        await using var emulator = Emulator(service, firstCallback: Outcome.NoAnswer, clock: clock);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        await scenario.PublishAsync(Scenario.Drop("late", scenario.Number(1), scenario.Number(2), now: clock.GetUtcNow()));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("late"))?.State == RecoveryState.Expired, "the recovery ended");
        var recovery = (await scenario.RecoveryAsync("late"))!;
        Assert.Equal(nameof(Outcome.QuietHours), recovery.Outcome);
        Assert.Single(emulator.Placements, p => p.RecoveryId == recovery.RecoveryId);
        await Eventually.TrueAsync(() => OutcomeUpdates(scenario).Any(u => u.RecoveryId == recovery.RecoveryId && u.Outcome == Outcome.QuietHours), "the quiet-hours outcome published");

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    private static Dictionary<string, string?> RetrySettings(Scenario scenario)
    {
        var settings = scenario.Settings();
        settings["Retries:MaxCallbackAttempts"] = "3";
        settings["Retries:Gap"] = "00:00:01";
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        return settings;
    }

    /// <summary>Retries on, quiet hours as by default (21:00-09:00), in UTC for the scenario's numbers.</summary>
    private static Dictionary<string, string?> QuietHoursOn(Scenario scenario, TimeSpan deadline)
    {
        var settings = RetrySettings(scenario);
        settings["QuietHours:Enabled"] = "true";
        settings["QuietHours:TimeZones:+4477"] = "Etc/UTC";
        settings["Switching:CallbackDeadline"] = deadline.ToString("c", CultureInfo.InvariantCulture);
        return settings;
    }

    /// <summary>A clock at that hour (UTC) today, whatever the hour of the run.</summary>
    private static ShiftedClock At(int hour)
    {
        var now = DateTimeOffset.UtcNow;
        return new ShiftedClock(new DateTimeOffset(now.Year, now.Month, now.Day, hour, 0, 0, TimeSpan.Zero) - now);
    }

    private static DateTimeOffset Today(TimeProvider clock, int hour)
    {
        var now = clock.GetUtcNow();
        return new DateTimeOffset(now.Year, now.Month, now.Day, hour, 0, 0, TimeSpan.Zero);
    }

    private static List<RecoveryUpdate> Updates(Scenario scenario) =>
        [.. scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2)).Select(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value))];

    private static async Task<RecoveryRecord?[]> Recoveries(Scenario scenario, string prefix, int count) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => scenario.RecoveryAsync($"{prefix}{i}")));

    private static List<RecoveryUpdate> OutcomeUpdates(Scenario scenario) => [.. Updates(scenario).Where(u => u.ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome)];

    private static EmulatedSwitch Emulator(ServiceHost service, uint rate = 0, Outcome? firstCallback = null, TimeProvider? clock = null) =>
        new(TestSwitch.Options(service) with
        {
            Clock = clock ?? TimeProvider.System,
            MaxCommandsPerSecond = rate,
            MaxUnacknowledged = 64,
            FirstCallbackOutcome = firstCallback,
            OutcomeMix = new Dictionary<Outcome, double> { [Outcome.Reconnected] = 1 },
        });
}
