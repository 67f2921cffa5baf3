using CallRecovery.IntegrationTests.Fixtures;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using CallRecovery.Recoveries;
using CallRecovery.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The recovery store's scripts against a real redis-server: the transition script (every rule of the lifecycle
/// table, replays, and events out of order), and a switch's queue (what a claim takes, when the next command is due).
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class RecoveryTransitionScriptTests(Infrastructure infrastructure) : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly string _prefix = "tx-" + Guid.NewGuid().ToString("N")[..8];
    private ConnectionMultiplexer _redis = null!;
    private RecoveryStore _store = null!;
    private int _calls;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);
        _store = new RecoveryStore(_redis, Options.Create(new RedisOptions { ConnectionString = infrastructure.Redis.ConnectionString, KeyPrefix = _prefix }));
    }

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_claim_takes_what_is_due_and_says_when_the_next_command_is_due()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var deadline = now.AddHours(1);
        await _store.ScheduleAsync(
        [
            new ScheduledRecovery("due-now", "switch-q", now.AddSeconds(-1), deadline, "+441110000001", "+441110000002"),
            new ScheduledRecovery("due-soon", "switch-q", now.AddMilliseconds(100), deadline, "+441110000003", "+441110000004"),
            new ScheduledRecovery("due-later", "switch-q", now.AddSeconds(5), deadline, "+441110000005", "+441110000006"),
        ]);

        var first = await _store.ClaimDueAsync("switch-q", 10, now, now.AddSeconds(30));
        var second = await _store.ClaimDueAsync("switch-q", 10, now.AddMilliseconds(200), now.AddSeconds(30));
        var third = await _store.ClaimDueAsync("switch-q", 10, now.AddSeconds(6), now.AddSeconds(30));

        Assert.Equal(["due-now"], first.Claimed);
        Assert.Equal(now.AddMilliseconds(100), first.NextDue);
        Assert.Equal(["due-soon"], second.Claimed);
        Assert.Equal(now.AddSeconds(5), second.NextDue);
        Assert.Equal(["due-later"], third.Claimed);
        Assert.Null(third.NextDue);
    }

    [Fact]
    public async Task A_claim_limited_by_the_window_leaves_the_rest_due_and_says_so()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await _store.ScheduleAsync([.. Enumerable.Range(0, 1_200).Select(i =>
            new ScheduledRecovery($"c{i}", "switch-w", now.AddMilliseconds(-i - 1), now.AddHours(1), $"+4411100{i:D5}", $"+4422200{i:D5}"))]);

        var claimed = await _store.ClaimDueAsync("switch-w", 1_100, now, now.AddSeconds(30));

        Assert.Equal(1_100, claimed.Claimed.Count);
        Assert.True(claimed.NextDue <= now, "the commands left are due already");
        Assert.Equal((100L, 1_100L), await _store.QueueLengthsAsync("switch-w"));
    }

    public static TheoryData<RecoveryState, RecoveryTrigger> EveryPair()
    {
        var data = new TheoryData<RecoveryState, RecoveryTrigger>();
        foreach (var state in Enum.GetValues<RecoveryState>())
        {
            foreach (var trigger in Enum.GetValues<RecoveryTrigger>())
            {
                data.Add(state, trigger);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryPair))]
    public async Task The_script_makes_exactly_the_move_the_table_allows(RecoveryState from, RecoveryTrigger trigger)
    {
        var callId = await NewRecoveryAsync(from, deadlinePassed: trigger == RecoveryTrigger.Expire);
        var rule = RecoveryLifecycle.Rule(from, trigger);
        if (from == RecoveryState.Pending && trigger == RecoveryTrigger.Release)
        {
            // Only a recovery released before is released again (a never-held one is kept as it is).
            await _redis.GetDatabase().HashSetAsync(new RedisKeys(_prefix).Recovery(callId), "releasedAt", Now.ToUnixTimeMilliseconds());
        }

        var transition = await ApplyAsync(callId, trigger);

        Assert.Equal(rule.To is null ? RecoveryVerdict.Unchanged : RecoveryVerdict.Applied, transition.Verdict);
        Assert.Equal(from, transition.From);
        var stored = (await _store.GetAsync(callId))!;
        Assert.Equal(rule.To ?? from, stored.State);
        Assert.Equal(rule.Effects, transition.Effects);

        // Whole or short, the reply carries what the service acts on, as stored; the whole record only when needed.
        var replied = transition.Recovery!;
        Assert.Equal((stored.State, stored.CallId, stored.RecoveryId, stored.SwitchId, stored.Attempts, stored.Detail, stored.TraceParent),
            (replied.State, replied.CallId, replied.RecoveryId, replied.SwitchId, replied.Attempts, replied.Detail, replied.TraceParent));
        Assert.Equal((rule.Effects & RecoveryLifecycle.NeedWholeRecord) != 0, replied.CallBack.Length > 0);
    }

    [Fact]
    public async Task A_late_acceptance_of_a_rejected_attempt_leaves_the_recovery_waiting_to_be_offered_again()
    {
        var callId = await NewRecoveryAsync(RecoveryState.Dispatched);
        Assert.Equal(RecoveryState.Pending, (await _store.RejectAsync(callId, "switch-a", 1, "OVERLOADED", Now)).To);

        var late = await _store.AcceptAsync(callId, "switch-a", 1, Now);

        Assert.Equal(RecoveryVerdict.Unchanged, late.Verdict);
        Assert.Equal(RecoveryEffects.None, late.Effects);
        Assert.Equal(RecoveryState.Pending, (await _store.GetAsync(callId))!.State);
        var again = await _store.DispatchAsync(callId, "switch-a", "c2", Now);
        Assert.True(again.Effects.HasFlag(RecoveryEffects.SendCommand));
        Assert.Equal(2, again.Recovery!.Attempts);
    }

    [Fact]
    public async Task No_answer_queues_the_next_callback_and_a_resent_report_of_it_does_so_again_but_never_a_third()
    {
        var callId = await NewRecoveryAsync(RecoveryState.Acknowledged);
        var retried = await _store.OutcomeAsync(callId, "switch-a", "NoAnswer", Now, TimeSpan.Zero, string.Empty, 0, string.Empty, Now, 1, TimeSpan.FromSeconds(30), 3);
        Assert.Equal((RecoveryVerdict.Applied, RecoveryTrigger.Retry, RecoveryState.Pending), (retried.Verdict, retried.Trigger, retried.To));
        Assert.Equal(2, retried.Recovery!.CallbackAttempt);
        Assert.Equal(Now.AddSeconds(30).ToUnixTimeMilliseconds(), retried.Recovery.DueAt.ToUnixTimeMilliseconds());

        // The same report again (unconfirmed: the service may have failed before queueing): its effects again, no third callback.
        var resent = await _store.OutcomeAsync(callId, "switch-a", "NoAnswer", Now, TimeSpan.Zero, string.Empty, 0, string.Empty, Now.AddSeconds(1), 1, TimeSpan.FromSeconds(30), 3);
        Assert.Equal((RecoveryVerdict.Unchanged, RecoveryTrigger.Retry), (resent.Verdict, resent.Trigger));
        Assert.True(resent.Effects.HasFlag(RecoveryEffects.Enqueue) && resent.Effects.HasFlag(RecoveryEffects.PublishOutcome));
        Assert.Equal(2, (await _store.GetAsync(callId))!.CallbackAttempt);

        // Once the second callback is out, the first one's report, and a late acceptance of its delivery, are stale.
        var second = await _store.DispatchAsync(callId, "switch-a", "c2", Now.AddSeconds(31));
        Assert.Equal(2, second.Recovery!.Attempts);
        Assert.Equal(RecoveryVerdict.Stale, (await _store.OutcomeAsync(callId, "switch-a", "NoAnswer", Now, TimeSpan.Zero, string.Empty, 0, string.Empty, Now.AddSeconds(32), 1, TimeSpan.FromSeconds(30), 3)).Verdict);
        Assert.Equal(RecoveryVerdict.Stale, (await _store.AcceptAsync(callId, "switch-a", 1, Now.AddSeconds(32))).Verdict);
        Assert.Equal(RecoveryState.Dispatched, (await _store.GetAsync(callId))!.State);
    }

    [Fact]
    public async Task A_held_recovery_is_not_cancelled_by_its_own_call_connecting()
    {
        var callId = await NewRecoveryAsync(RecoveryState.Held);
        var own = await _store.CancelForRedialAsync(callId, Now, callId, Now);
        Assert.Equal(RecoveryVerdict.Kept, own.Verdict);
        var redial = await _store.CancelForRedialAsync(callId, Now, "another-call", Now);
        Assert.Equal(RecoveryState.Cancelled, redial.To);
    }

    [Fact]
    public async Task Replays_change_nothing_and_the_first_outcome_is_kept()
    {
        var callId = await NewRecoveryAsync(RecoveryState.Acknowledged);
        var first = await _store.OutcomeAsync(callId, "switch-a", "Reconnected", Now, TimeSpan.FromSeconds(90), string.Empty, 4, "leg-2", Now);
        var replay = await _store.OutcomeAsync(callId, "switch-a", "Busy", Now, TimeSpan.Zero, string.Empty, 0, string.Empty, Now);

        Assert.Equal(RecoveryVerdict.Applied, first.Verdict);
        Assert.Equal(RecoveryVerdict.Unchanged, replay.Verdict);
        Assert.False(replay.Effects.HasFlag(RecoveryEffects.CountOutcome));
        Assert.True(replay.Effects.HasFlag(RecoveryEffects.PublishOutcome));
        Assert.Equal("Reconnected", (await _store.GetAsync(callId))!.Outcome);

        var expired = await NewRecoveryAsync(RecoveryState.Pending, deadlinePassed: true);
        Assert.Equal(RecoveryVerdict.Applied, (await _store.ExpireAsync(expired, Now)).Verdict);
        var again = await _store.ExpireAsync(expired, Now);
        Assert.Equal(RecoveryVerdict.Unchanged, again.Verdict);
        Assert.Equal(RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.CancelAtSwitch, again.Effects);
    }

    [Fact]
    public async Task Reports_out_of_order_end_where_the_switch_says()
    {
        var callId = await NewRecoveryAsync(RecoveryState.Dispatched);
        // The outcome overtakes the acceptance and the stages; they arrive after it.
        Assert.Equal(RecoveryState.Completed, (await _store.OutcomeAsync(callId, "switch-a", "NoAnswer", Now, TimeSpan.Zero, string.Empty, 0, string.Empty, Now)).To);
        Assert.Equal(RecoveryVerdict.Unchanged, (await _store.AcceptAsync(callId, "switch-a", 1, Now)).Verdict);
        var stage = await _store.ProgressAsync(callId, "switch-a", "CustomerRinging", Now.AddSeconds(-1), Now);
        Assert.Equal(RecoveryVerdict.Applied, stage.Verdict);
        var recovery = (await _store.GetAsync(callId))!;
        Assert.Equal(RecoveryState.Completed, recovery.State);
        Assert.Contains("CustomerRinging", recovery.StageTimes.Keys);

        // An outcome after we expired it: the switch acted after all, and billing must know.
        var expired = await NewRecoveryAsync(RecoveryState.Expired);
        var late = await _store.OutcomeAsync(expired, "switch-a", "Reconnected", Now, TimeSpan.FromSeconds(30), string.Empty, 0, string.Empty, Now);
        Assert.Equal(RecoveryState.Completed, late.To);
        Assert.True(late.Effects.HasFlag(RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome));
    }

    [Fact]
    public async Task Conditions_of_a_trigger_hold_back_moves_the_table_would_allow()
    {
        var stale = await NewRecoveryAsync(RecoveryState.Dispatched, attempts: 2);
        Assert.Equal(RecoveryVerdict.Stale, (await _store.RejectAsync(stale, "switch-a", 1, "OVERLOADED", Now)).Verdict);

        var accepted = await NewRecoveryAsync(RecoveryState.Acknowledged, attempts: 2);
        var superseded = await _store.AcceptAsync(accepted, "switch-a", 2, Now);
        Assert.Equal(RecoveryVerdict.Superseded, superseded.Verdict);
        Assert.True(superseded.Effects.HasFlag(RecoveryEffects.CancelAtSwitch));

        var other = await NewRecoveryAsync(RecoveryState.Dispatched);
        Assert.Equal(RecoveryVerdict.Forbidden, (await _store.AcceptAsync(other, "switch-b", 1, Now)).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _store.DispatchAsync(other, "switch-b", "c9", Now)).Verdict);

        var early = await NewRecoveryAsync(RecoveryState.Pending);
        Assert.Equal(RecoveryVerdict.Kept, (await _store.ExpireAsync(early, Now)).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _store.CancelForRedialAsync(early, Now, "older-call", Now.AddMinutes(-5))).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _store.CancelForPartyAsync(early, Now, "+449999999999", "opted out")).Verdict);

        var late = await NewRecoveryAsync(RecoveryState.Pending, deadlinePassed: true);
        var dispatched = await _store.DispatchAsync(late, "switch-a", "c1", Now);
        Assert.Equal(RecoveryTrigger.Expire, dispatched.Trigger);
        Assert.Equal(RecoveryState.Expired, dispatched.To);
        Assert.True(dispatched.Effects.HasFlag(RecoveryEffects.PublishOutcome));

        Assert.Equal(RecoveryVerdict.Unknown, (await _store.AcceptAsync("no-such-call", "switch-a", 1, Now)).Verdict);
    }

    [Fact]
    public async Task A_state_the_lifecycle_does_not_know_is_an_error_not_a_pending_recovery()
    {
        var callId = await NewRecoveryAsync(RecoveryState.Pending);
        await _redis.GetDatabase().HashSetAsync(new RedisKeys(_prefix).Recovery(callId), "state", "Paused");
        await Assert.ThrowsAsync<RedisServerException>(() => _store.DispatchAsync(callId, "switch-a", "c1", Now));
        await Assert.ThrowsAsync<FormatException>(() => _store.GetAsync(callId));
    }

    private Task<RecoveryTransition> ApplyAsync(string callId, RecoveryTrigger trigger) => trigger switch
    {
        RecoveryTrigger.Dispatch => _store.DispatchAsync(callId, "switch-a", "c1", Now),
        RecoveryTrigger.Accept => _store.AcceptAsync(callId, "switch-a", 1, Now),
        RecoveryTrigger.Reject => _store.RejectAsync(callId, "switch-a", 1, "OVERLOADED", Now),
        RecoveryTrigger.Progress => _store.ProgressAsync(callId, "switch-a", "CustomerRinging", Now, Now),
        RecoveryTrigger.Outcome => _store.OutcomeAsync(callId, "switch-a", "Reconnected", Now, TimeSpan.FromSeconds(60), string.Empty, 5, "leg-2", Now),
        RecoveryTrigger.Cancel => _store.CancelAsync(callId, Now, "test"),
        RecoveryTrigger.Expire => _store.ExpireAsync(callId, Now),
        RecoveryTrigger.Hold => _store.HoldAsync(callId, "cell-0123456789abcdef-1765000000000", Now),
        RecoveryTrigger.Defer => _store.DeferAsync(callId, Now.AddMinutes(1), "quiet hours", Now),
        // What an outcome worth another callback becomes (the outcome's arguments, with a gap and callbacks left).
        RecoveryTrigger.Retry => _store.ApplyAsync(callId, trigger, Now, "switch-a", "NoAnswer", Now.ToUnixTimeMilliseconds(), 0, string.Empty, 0, string.Empty, 0, 1_000, 3),
        _ => _store.ApplyAsync(callId, trigger, Now, string.Empty),
    };

    /// <summary>A recovery in the given state, as the scripts would have left it, of switch-a, attempt 1 out (and accepted, when acknowledged).</summary>
    private async Task<string> NewRecoveryAsync(RecoveryState state, bool deadlinePassed = false, int attempts = 1)
    {
        var callId = $"call-{Interlocked.Increment(ref _calls)}";
        var record = new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(callId),
            CallId = callId,
            State = state,
            CallBack = "+447700900001",
            OtherParty = "+447700900002",
            DropTime = Now.AddMinutes(-1),
            AcceptedAt = Now.AddMinutes(-1),
            EventId = "e1",
            SwitchId = "switch-a",
            DueAt = Now.AddSeconds(-40),
            Deadline = deadlinePassed ? Now.AddSeconds(-1) : Now.AddMinutes(4),
            TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        };
        var key = new RedisKeys(_prefix).Recovery(callId);
        var db = _redis.GetDatabase();
        await db.HashSetAsync(key, record.ToHashEntries());
        await db.HashSetAsync(key, [new("attempts", attempts), new("acceptedAttempt", 1)]);
        await db.KeyExpireAsync(key, TimeSpan.FromMinutes(10));
        return callId;
    }
}
