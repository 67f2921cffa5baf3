using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Outcomes;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using CallRecovery.SwitchEmulator;
using Microsoft.Extensions.DependencyInjection;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Amends for a failed recovery, end to end (Kafka events, real Redis, the switch API over HTTP/2, compensations on
/// their own Kafka topic): one compensation per recovery that ended without a reconnect, however often its events are
/// read again; the credit within the customer's daily cap; none for a recovery the parties made unnecessary.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class CompensationTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task Three_unanswered_callbacks_give_one_compensation_and_a_replay_of_the_whole_topic_still_one()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        var settings = scenario.Settings();
        settings["Retries:MaxCallbackAttempts"] = "3";
        settings["Retries:Gap"] = "00:00:01";
        var customer = scenario.Number(1);
        await using (var service = new ServiceHost(settings).Started())
        {
            await using var emulator = new EmulatedSwitch(TestSwitch.Options(service) with { OutcomeMix = new Dictionary<Outcome, double> { [Outcome.NoAnswer] = 1 } });
            using var stop = new CancellationTokenSource();
            var running = emulator.RunAsync(stop.Token);

            await scenario.PublishAsync(Scenario.Drop("unanswered", customer, scenario.Number(2)));
            await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("unanswered"))?.State == RecoveryState.Completed, "the third callback's outcome ends the recovery");
            var recovery = (await scenario.RecoveryAsync("unanswered"))!;
            Assert.Equal(nameof(Outcome.NoAnswer), recovery.Outcome);
            Assert.Equal(3, recovery.CallbackAttempt);

            var compensation = Assert.Single(await CompensationsAsync(scenario, expected: 1));
            Assert.Equal(recovery.RecoveryId, compensation.CompensationId);
            Assert.Equal(customer, compensation.Customer);
            Assert.Equal(Outcome.NoAnswer, compensation.Outcome);
            Assert.Equal("apology-no-answer", compensation.Apology.TemplateId);
            Assert.Equal("en", compensation.Apology.Language);
            Assert.Equal("SMS", compensation.Apology.Channel);
            Assert.Equal(5u, compensation.Credit.FreeMinutes);
            Assert.False(compensation.Capped);

            // The lookup shows it (without the customer's number).
            using var http = service.CreateHttpClient();
            var call = await http.GetFromJsonAsync<JsonElement>("/v1/calls/unanswered");
            var shown = call.GetProperty("recovery").GetProperty("compensation");
            Assert.Equal("apology-no-answer", shown.GetProperty("template").GetString());
            Assert.Equal("5 free minutes", shown.GetProperty("credit").GetString());
            Assert.DoesNotContain(customer, call.GetRawText(), StringComparison.Ordinal);

            // The switch resends the final outcome twice (it was not confirmed): through the door, the end's effects run
            // again - the outcome is published again, at least once - and still one compensation.
            var moves = service.Services.GetRequiredService<RecoveryMoves>();
            var resent = new OutcomeMove("unanswered", "switch-a", Outcome.NoAnswer, recovery.CompletedAt!.Value, TimeSpan.Zero, string.Empty, 0, string.Empty, 3, null, string.Empty);
            var published = FinalOutcomes(scenario, recovery.RecoveryId).Count;
            Assert.True((await moves.ApplyAsync(resent)).Effects.HasFlag(RecoveryEffects.PublishOutcome));
            await moves.ApplyAsync(resent);
            await Eventually.TrueAsync(() => Task.FromResult(FinalOutcomes(scenario, recovery.RecoveryId).Count >= published + 2), "the outcome published again, twice");
            await Eventually.TrueAsync(() => OutboxEmptyAsync(scenario), "the outbox drained");

            await stop.CancelAsync();
            await running.DefaultTimeout();
        }

        // Every event of the topic read again, by a replica of a new consumer group, with the switch connected.
        const string replay = "replay";
        var inputEvents = scenario.CommittedTotal();
        await using (var again = new ServiceHost(scenario.Settings(groupId: replay)).Started())
        {
            await using var emulator = new EmulatedSwitch(TestSwitch.Options(again) with { OutcomeMix = new Dictionary<Outcome, double> { [Outcome.NoAnswer] = 1 } });
            using var stop = new CancellationTokenSource();
            var running = emulator.RunAsync(stop.Token);
            await Eventually.TrueAsync(() => Task.FromResult(scenario.CommittedTotal(replay) >= inputEvents), "the whole topic read again");
            await Eventually.TrueAsync(() => OutboxEmptyAsync(scenario), "the outbox drained");
            Assert.Empty(emulator.Placements);
            await stop.CancelAsync();
            await running.DefaultTimeout();
        }

        Assert.Single(await CompensationsAsync(scenario, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task The_credit_stops_at_the_daily_cap_the_apology_does_not_and_a_redial_owes_nothing()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        // No switch connected: the callbacks expire at their deadline.
        settings["Switching:CallbackDeadline"] = "00:00:02";
        // ...but the redialled call's (its customer flagged vulnerable) waits long enough for the redial on a loaded machine.
        settings["Policy:VulnerableDeadline"] = "00:10:00";
        settings["Compensation:DailyCreditCap"] = "1";
        settings["Compensation:Credits:EXPIRED:Currency"] = "INR";
        settings["Compensation:Credits:EXPIRED:MinorUnits"] = "100";
        settings["Compensation:Templates:EXPIRED"] = "sorry-we-missed-you";
        await using var service = new ServiceHost(settings).Started();
        var (customer, redialler) = (scenario.Number(1), scenario.Number(5));

        await scenario.PublishAsync(Scenario.Drop("first", customer, scenario.Number(2)));
        await scenario.PublishAsync(Scenario.Drop("second", customer, scenario.Number(3)));
        // The parties of this one reach each other again by themselves while its callback waits: cancelled, nothing owed.
        var redialled = Scenario.Drop("redialled", redialler, scenario.Number(6));
        redialled.Vulnerable = true;
        await scenario.PublishAsync(redialled);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("redialled"))?.State == RecoveryState.Pending, "the redialled call's callback waits");
        await scenario.PublishAsync(new CallConnected { EventId = "redial", CallId = "call-redial", Caller = redialler, Callee = scenario.Number(6), AnswerTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("redialled"))?.State == RecoveryState.Cancelled, "the redial cancels it");

        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("first"))?.State == RecoveryState.Expired && (await scenario.RecoveryAsync("second"))?.State == RecoveryState.Expired,
            "both callbacks expired");
        var compensations = await CompensationsAsync(scenario, expected: 2);
        Assert.Equal(2, compensations.Count);
        Assert.All(compensations, c => Assert.Equal("sorry-we-missed-you", c.Apology.TemplateId));
        var credited = Assert.Single(compensations, c => c.Credit is not null);
        Assert.Equal(new Money { Currency = "INR", MinorUnits = 100 }, credited.Credit.Amount);
        var capped = Assert.Single(compensations, c => c.Credit is null);
        Assert.True(capped.Capped);
        Assert.Equal(1u, capped.CreditsToday);

        await Eventually.TrueAsync(() => OutboxEmptyAsync(scenario), "the outbox drained");
        Assert.DoesNotContain(await CompensationsAsync(scenario, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2)), c => c.Customer == redialler);
    }

    private static async Task<List<Contracts.V1.Compensation>> CompensationsAsync(Scenario scenario, int expected, TimeSpan? quiet = null)
    {
        List<Contracts.V1.Compensation> read = [];
        if (expected != int.MaxValue)
        {
            await Eventually.TrueAsync(() => Task.FromResult((read = Read(scenario, expected, quiet)).Count >= expected), $"{expected} compensation(s) published");
            return read;
        }

        return Read(scenario, expected, quiet);
    }

    private static List<Contracts.V1.Compensation> Read(Scenario scenario, int expected, TimeSpan? quiet) =>
        [.. scenario.ReadTopic(scenario.CompensationTopic, 2, expected, quiet).Select(m => Contracts.V1.Compensation.Parser.ParseFrom(m.Message.Value))];

    private static List<RecoveryUpdate> FinalOutcomes(Scenario scenario, string recoveryId) =>
        [.. scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(1)).Select(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value))
            .Where(u => u.RecoveryId == recoveryId && u.ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome && u.NextAttemptAt is null)];

    private static async Task<bool> OutboxEmptyAsync(Scenario scenario) =>
        await (await scenario.RedisAsync()).StreamLengthAsync(new OutboxKeys(new RedisKeys(scenario.KeyPrefix)).Outbox("switch-a")) == 0;
}
