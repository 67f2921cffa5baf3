using CallRecovery.Contracts.V1;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Tests.Fakes;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CallRecovery.Tests.Recoveries;

/// <summary>
/// The one door every move goes through, over recoveries kept in memory: it makes exactly the move the table allows,
/// holds back moves whose conditions fail, decides again when another move came between its read and its write, and
/// hands every transition to the effects port.
/// </summary>
public sealed class RecoveryMovesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
    internal const string Customer = "+447700900001";
    internal const string Friend = "+447700900002";
    private const string Incident = "cell-0123456789abcdef-1765000000000";

    private readonly InMemoryRecoveryRecords _records = new();
    private readonly RecordingEffects _effects = new();
    private readonly FakeTimeProvider _time = new(Now);
    private readonly RecoveryMoves _moves;
    private int _calls;

    public RecoveryMovesTests()
    {
        _moves = new RecoveryMoves(_records, _effects, Options.Create(new RecoveryPolicyOptions()), _time);
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
    public async Task The_door_makes_exactly_the_move_the_table_allows_and_hands_over_its_effects(RecoveryState from, RecoveryTrigger trigger)
    {
        // Each trigger's own conditions hold here (the right switch, past the deadline for an expiry, the held reason
        // for a release, a silent switch for the outcome timeout), so what decides is the table.
        var resentRetry = from == RecoveryState.Pending && trigger == RecoveryTrigger.Retry;
        var callId = New(from, deadlinePassed: trigger == RecoveryTrigger.Expire, hold: trigger == RecoveryTrigger.Release ? RecoveryLifecycle.HoldForOutage : string.Empty,
            releasedBefore: from == RecoveryState.Pending && trigger == RecoveryTrigger.Release, silentSince: Now.AddHours(-5),
            // A retry reaches a pending recovery only as the outcome that led to its next callback, resent.
            extra: resentRetry ? [(RecoveryFields.CallbackAttempt, "2"), (RecoveryFields.LastOutcome, nameof(Outcome.NoAnswer))] : null);
        var rule = RecoveryLifecycle.Rule(from, trigger);

        var transition = await _moves.ApplyAsync(resentRetry ? Report(callId, Outcome.NoAnswer, 1, new RetryPlan(TimeSpan.FromSeconds(1), 3)) : MoveOf(callId, trigger));
        if (trigger == RecoveryTrigger.Retry && transition.Trigger != trigger)
        {
            // Only an outcome of a callback out (or resent, above) becomes a retry: for the other states the table has nothing.
            Assert.Equal((RecoveryTrigger.Outcome, RecoveryEffects.None), (transition.Trigger, rule.Effects));
            return;
        }

        Assert.Equal(rule.To is null ? RecoveryVerdict.Unchanged : RecoveryVerdict.Applied, transition.Verdict);
        Assert.Equal((from, trigger), (transition.From, transition.Trigger));
        Assert.Equal(rule.To ?? from, _records.Get(callId)!.Record.State);
        Assert.Equal(rule.Effects, transition.Effects);
        Assert.Same(transition, Assert.Single(_effects.Carried));
    }

    [Fact]
    public async Task A_late_acceptance_of_a_recovery_pending_again_is_recorded_and_a_later_opt_out_cancels_it_at_the_switch()
    {
        var callId = New(RecoveryState.Dispatched);
        Assert.Equal(RecoveryState.Pending, (await _moves.ApplyAsync(new RejectMove(callId, "switch-a", 1, "OVERLOADED", "c1"))).To);

        // The switch accepted after all (its rejection and acceptance crossed): it is calling the customer.
        var late = await _moves.ApplyAsync(new AcceptMove(callId, "switch-a", 1, "c1"));
        Assert.Equal((RecoveryVerdict.Applied, RecoveryState.Acknowledged), (late.Verdict, late.To));
        Assert.True(late.Effects.HasFlag(RecoveryEffects.LeaveQueue | RecoveryEffects.Supervise));
        Assert.Equal(1, late.Recovery!.AcceptedAttempt);

        var optOut = await _moves.ApplyAsync(new CancelMove(callId, new PartyBarred(Customer, "a party opted out since the decision")));
        Assert.Equal(RecoveryState.Cancelled, optOut.To);
        Assert.True(optOut.Effects.HasFlag(RecoveryEffects.CancelAtSwitch | RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome));
    }

    [Fact]
    public async Task A_switch_calling_is_not_cancelled_by_a_call_between_the_parties_which_may_be_our_own_reconnect()
    {
        var callId = New(RecoveryState.Acknowledged);
        var redial = await _moves.ApplyAsync(new CancelMove(callId, new Redialled("reconnect-leg", Now, Friend, Customer)));
        Assert.Equal((RecoveryVerdict.Kept, RecoveryState.Acknowledged), (redial.Verdict, redial.To));
    }

    [Fact]
    public async Task An_acceptance_of_a_delivery_never_made_or_of_an_earlier_callback_is_stale()
    {
        var callId = New(RecoveryState.Pending, attempts: 1);
        Assert.Equal(RecoveryVerdict.Stale, (await _moves.ApplyAsync(new AcceptMove(callId, "switch-a", 2, "c1"))).Verdict);
        Assert.Equal(RecoveryState.Pending, _records.Get(callId)!.Record.State);
    }

    [Fact]
    public async Task Accepted_and_silent_past_the_outcome_timeout_ends_no_report_and_a_late_outcome_completes_it()
    {
        var silent = New(RecoveryState.Acknowledged, silentSince: Now.AddMinutes(-16));
        var ended = await _moves.ApplyAsync(new OutcomeTimeoutMove(silent, TimeSpan.FromMinutes(15), TimeSpan.FromHours(4)));
        Assert.Equal((RecoveryVerdict.Applied, RecoveryState.Expired), (ended.Verdict, ended.To));
        Assert.Equal(nameof(Outcome.NoReport), ended.Recovery!.Outcome);
        Assert.True(ended.Effects.HasFlag(RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome | RecoveryEffects.LeaveQueue));

        var late = await _moves.ApplyAsync(new OutcomeMove(silent, "switch-a", Outcome.Reconnected, Now, TimeSpan.FromMinutes(3), string.Empty, 5, "leg", 1, null, "c1"));
        Assert.Equal((RecoveryState.Completed, nameof(Outcome.Reconnected)), (late.To, late.Recovery!.Outcome));

        // A stage a minute ago, or parties bridged (the outcome comes when they hang up): not silent yet.
        var talking = New(RecoveryState.Acknowledged, silentSince: Now.AddMinutes(-1));
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new OutcomeTimeoutMove(talking, TimeSpan.FromMinutes(15), TimeSpan.FromHours(4)))).Verdict);
        var bridged = New(RecoveryState.Acknowledged, silentSince: Now.AddMinutes(-30), extra: [(RecoveryFields.StageAt(nameof(Stage.Bridged), 1), RecoveryRecord.Ms(Now.AddMinutes(-30)))]);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new OutcomeTimeoutMove(bridged, TimeSpan.FromMinutes(15), TimeSpan.FromHours(4)))).Verdict);
    }

    [Fact]
    public async Task No_answer_queues_the_next_callback_and_a_resent_report_of_it_does_so_again_but_never_a_third()
    {
        var callId = New(RecoveryState.Acknowledged);
        var retry = new RetryPlan(TimeSpan.FromSeconds(30), 3);
        var retried = await _moves.ApplyAsync(Report(callId, Outcome.NoAnswer, 1, retry));
        Assert.Equal((RecoveryVerdict.Applied, RecoveryTrigger.Retry, RecoveryState.Pending), (retried.Verdict, retried.Trigger, retried.To));
        Assert.Equal(2, retried.Recovery!.CallbackAttempt);
        Assert.Equal(Now.AddSeconds(30), retried.Recovery.DueAt);

        // The same report again (unconfirmed: the service may have failed before queueing): its effects again, no third callback.
        var resent = await _moves.ApplyAsync(Report(callId, Outcome.NoAnswer, 1, retry));
        Assert.Equal((RecoveryVerdict.Unchanged, RecoveryTrigger.Retry), (resent.Verdict, resent.Trigger));
        Assert.True(resent.Effects.HasFlag(RecoveryEffects.Enqueue | RecoveryEffects.PublishOutcome));
        Assert.Equal(2, _records.Get(callId)!.Record.CallbackAttempt);

        // Once the second callback is out, the first one's report, and a late acceptance of its delivery, are stale.
        _time.Advance(TimeSpan.FromSeconds(31));
        var second = await _moves.ApplyAsync(new DispatchMove(callId, "switch-a", "c2"));
        Assert.Equal(2, second.Recovery!.Attempts);
        Assert.Equal(RecoveryVerdict.Stale, (await _moves.ApplyAsync(Report(callId, Outcome.NoAnswer, 1, retry))).Verdict);
        Assert.Equal(RecoveryVerdict.Stale, (await _moves.ApplyAsync(new AcceptMove(callId, "switch-a", 1, "c1"))).Verdict);
        Assert.Equal(RecoveryState.Dispatched, _records.Get(callId)!.Record.State);
    }

    [Fact]
    public async Task Replays_change_nothing_and_the_first_outcome_is_kept()
    {
        var callId = New(RecoveryState.Acknowledged);
        var first = await _moves.ApplyAsync(Report(callId, Outcome.Reconnected, 1, null));
        var replay = await _moves.ApplyAsync(Report(callId, Outcome.Busy, 1, null));
        Assert.Equal((RecoveryVerdict.Applied, RecoveryVerdict.Unchanged), (first.Verdict, replay.Verdict));
        Assert.False(replay.Effects.HasFlag(RecoveryEffects.CountOutcome));
        Assert.True(replay.Effects.HasFlag(RecoveryEffects.PublishOutcome));
        Assert.Equal(nameof(Outcome.Reconnected), _records.Get(callId)!.Record.Outcome);

        var expired = New(RecoveryState.Pending, deadlinePassed: true);
        Assert.Equal(RecoveryVerdict.Applied, (await _moves.ApplyAsync(new ExpireMove(expired))).Verdict);
        var again = await _moves.ApplyAsync(new ExpireMove(expired));
        Assert.Equal(RecoveryVerdict.Unchanged, again.Verdict);
        Assert.Equal(RecoveryEffects.PublishOutcome | RecoveryEffects.LeaveQueue | RecoveryEffects.CancelAtSwitch, again.Effects);
    }

    [Fact]
    public async Task Reports_out_of_order_end_where_the_switch_says()
    {
        var callId = New(RecoveryState.Dispatched);
        // The outcome overtakes the acceptance and the stages; they arrive after it.
        Assert.Equal(RecoveryState.Completed, (await _moves.ApplyAsync(Report(callId, Outcome.NoAnswer, 1, null))).To);
        Assert.Equal(RecoveryVerdict.Unchanged, (await _moves.ApplyAsync(new AcceptMove(callId, "switch-a", 1, "c1"))).Verdict);
        Assert.Equal(RecoveryVerdict.Applied, (await _moves.ApplyAsync(new ProgressMove(callId, "switch-a", Stage.CustomerRinging, Now.AddSeconds(-1), 0, "c1"))).Verdict);
        var recovery = _records.Get(callId)!.Record;
        Assert.Equal(RecoveryState.Completed, recovery.State);
        Assert.Contains(nameof(Stage.CustomerRinging), recovery.StageTimes.Keys);

        // An outcome after we expired it: the switch acted after all, and billing must know.
        var expired = New(RecoveryState.Expired);
        var late = await _moves.ApplyAsync(Report(expired, Outcome.Reconnected, 1, null));
        Assert.Equal(RecoveryState.Completed, late.To);
        Assert.True(late.Effects.HasFlag(RecoveryEffects.PublishOutcome | RecoveryEffects.CountOutcome));
    }

    [Fact]
    public async Task Conditions_of_a_trigger_hold_back_moves_the_table_would_allow()
    {
        var stale = New(RecoveryState.Dispatched, attempts: 2);
        Assert.Equal(RecoveryVerdict.Stale, (await _moves.ApplyAsync(new RejectMove(stale, "switch-a", 1, "OVERLOADED", "c1"))).Verdict);

        var accepted = New(RecoveryState.Acknowledged, attempts: 2);
        var superseded = await _moves.ApplyAsync(new AcceptMove(accepted, "switch-a", 2, "c2"));
        Assert.Equal(RecoveryVerdict.Superseded, superseded.Verdict);
        Assert.True(superseded.Effects.HasFlag(RecoveryEffects.CancelAtSwitch));

        var other = New(RecoveryState.Dispatched);
        Assert.Equal(RecoveryVerdict.Forbidden, (await _moves.ApplyAsync(new AcceptMove(other, "switch-b", 1, "c9"))).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new DispatchMove(other, "switch-b", "c9"))).Verdict);

        var early = New(RecoveryState.Pending);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new ExpireMove(early))).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new CancelMove(early, new Redialled("older-call", Now.AddMinutes(-5), Customer, Friend)))).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new CancelMove(early, new PartyBarred("+449999999999", "opted out")))).Verdict);
        // The customer reached someone else (their open recoveries are read under them, this one among them): not a redial of this call.
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new CancelMove(early, new Redialled("call-to-someone-else", Now, Customer, "+449999999999")))).Verdict);
        Assert.Equal(RecoveryState.Cancelled, (await _moves.ApplyAsync(new CancelMove(early, new Redialled("redial", Now, Customer, Friend)))).To);

        var own = New(RecoveryState.Held);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new CancelMove(own, new Redialled(own, Now, Customer, Friend)))).Verdict);

        var late = New(RecoveryState.Pending, deadlinePassed: true);
        var dispatched = await _moves.ApplyAsync(new DispatchMove(late, "switch-a", "c1"));
        Assert.Equal((RecoveryTrigger.Expire, RecoveryState.Expired), (dispatched.Trigger, dispatched.To));
        Assert.True(dispatched.Effects.HasFlag(RecoveryEffects.PublishOutcome));
        Assert.DoesNotContain("callback sent", dispatched.Recovery!.Detail, StringComparison.Ordinal);
        Assert.Null(dispatched.Recovery.FirstDispatchedAt);

        Assert.Equal(RecoveryVerdict.Unknown, (await _moves.ApplyAsync(new AcceptMove("no-such-call", "switch-a", 1, "c1"))).Verdict);
    }

    [Fact]
    public async Task Times_of_two_network_elements_compare_within_the_clock_tolerance()
    {
        // A re-attach stamped 0.7 s before the drop by an element whose clock is a second off: the customer is back.
        var waiting = New(RecoveryState.Held, hold: RecoveryLifecycle.HoldForReachability);
        var drop = _records.Get(waiting)!.Record.DropTime;
        Assert.Equal(RecoveryState.Pending, (await _moves.ApplyAsync(new ReachableRelease(waiting, Customer, drop.AddMilliseconds(-700)))).To);

        // A redial answered 1 s before the drop time: the parties reached each other after the drop.
        var redialled = New(RecoveryState.Pending);
        Assert.Equal(RecoveryState.Cancelled, (await _moves.ApplyAsync(new CancelMove(redialled, new Redialled("redial", drop.AddSeconds(-1), Friend, Customer)))).To);

        // Beyond the tolerance (2 s by default): before the drop, so no evidence of anything after it.
        var earlier = New(RecoveryState.Held, hold: RecoveryLifecycle.HoldForReachability);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new ReachableRelease(earlier, Customer, drop.AddSeconds(-3)))).Verdict);
    }

    [Fact]
    public async Task A_customers_answer_cancels_their_callbacks_of_drops_before_it_and_no_later_one()
    {
        var before = New(RecoveryState.Acknowledged);
        var drop = _records.Get(before)!.Record.DropTime;
        var stopped = await _moves.ApplyAsync(new CancelMove(before, new CustomerAnswered(Customer, drop.AddMinutes(1), "sms reply", null)));
        Assert.Equal(RecoveryState.Cancelled, stopped.To);
        Assert.True(stopped.Effects.HasFlag(RecoveryEffects.CancelAtSwitch), "the switch calling is told to stop");
        Assert.Equal("the customer asked us not to call back (sms reply)", stopped.Recovery!.Detail);

        // A drop after the answer is a new question; someone else's answer is not theirs.
        var after = New(RecoveryState.Pending);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new CancelMove(after, new CustomerAnswered(Customer, drop.AddSeconds(-5), "app", TimeSpan.FromDays(1))))).Verdict);
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new CancelMove(after, new CustomerAnswered("+449999999999", drop.AddMinutes(1), "app", null)))).Verdict);
        Assert.Equal("the customer asked for no callbacks for 2 day(s) (ussd)",
            (await _moves.ApplyAsync(new CancelMove(after, new CustomerAnswered(Customer, drop, "ussd", TimeSpan.FromDays(2))))).Recovery!.Detail);
    }

    [Fact]
    public async Task A_move_that_came_between_the_read_and_the_write_is_seen_and_the_decision_made_again()
    {
        var callId = New(RecoveryState.Dispatched);
        var read = await _moves.ReadAsync(callId);
        // An opt-out cancels it while the switch's acceptance is being recorded.
        _records.BeforeWrite = id =>
        {
            _records.BeforeWrite = null;
            _moves.ApplyAsync(new CancelMove(id, new PartyBarred(Friend, "a party opted out since the decision"))).GetAwaiter().GetResult();
        };

        var accepted = (await _moves.ApplyAsync([(read, (RecoveryMove)new AcceptMove(callId, "switch-a", 1, "c1"))])).Single();

        Assert.Equal(1, _records.Conflicts);
        Assert.Equal((RecoveryState.Cancelled, RecoveryVerdict.Unchanged), (accepted.From, accepted.Verdict));
        Assert.True(accepted.Effects.HasFlag(RecoveryEffects.CancelAtSwitch), "accepted after it ended: the switch is told not to start it");
        Assert.Equal(RecoveryState.Cancelled, _records.Get(callId)!.Record.State);
    }

    [Fact]
    public async Task A_dispatch_that_met_a_move_since_its_read_is_not_decided_again_but_waits()
    {
        // The dispatch read the recovery (a resend after a timeout) and checked the parties and quiet hours on that read;
        // the switch's NO_ANSWER then queued the next callback a minute later.
        var callId = New(RecoveryState.Dispatched);
        var read = await _moves.ReadAsync(callId);
        _records.BeforeWrite = id =>
        {
            _records.BeforeWrite = null;
            _moves.ApplyAsync(Report(id, Outcome.NoAnswer, 1, new RetryPlan(TimeSpan.FromMinutes(1), 3))).GetAwaiter().GetResult();
        };

        var dispatch = (await _moves.ApplyAsync([(read, (RecoveryMove)new DispatchMove(callId, "switch-a", "c1"))])).Single();

        Assert.Equal(RecoveryVerdict.Kept, dispatch.Verdict);
        Assert.False(dispatch.Effects.HasFlag(RecoveryEffects.SendCommand));
        var stored = _records.Get(callId)!.Record;
        Assert.Equal((RecoveryState.Pending, 2, Now.AddMinutes(1)), (stored.State, stored.CallbackAttempt, stored.DueAt));

        // Read afresh, it is not due: nothing is sent before the retry's gap.
        Assert.Equal(RecoveryVerdict.Kept, (await _moves.ApplyAsync(new DispatchMove(callId, "switch-a", "c1"))).Verdict);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.True((await _moves.ApplyAsync(new DispatchMove(callId, "switch-a", "c1"))).Effects.HasFlag(RecoveryEffects.SendCommand));
    }

    [Fact]
    public async Task A_recovery_is_created_once_and_scheduled_as_stored_however_often_it_is_created_again()
    {
        var first = Record("call-created", RecoveryState.Pending);
        var created = Assert.Single(await _moves.CreateAsync([first]));
        Assert.Equal((RecoveryTrigger.Schedule, true), (created.Trigger, ((ScheduleMove)created.Move).Created));
        Assert.Equal(RecoveryEffects.Enqueue | RecoveryEffects.Index, created.Effects);

        // A replay with another plan (a route changed in a rolling deploy) finds the stored recovery and acts on that.
        var again = Assert.Single(await _moves.CreateAsync([first with { SwitchId = "switch-z", DueAt = Now.AddHours(1) }]));
        Assert.False(((ScheduleMove)again.Move).Created);
        Assert.Equal(("switch-a", first.DueAt), (again.Recovery!.SwitchId, again.Recovery.DueAt));
    }

    [Fact]
    public void A_state_the_lifecycle_does_not_know_is_an_error_not_a_pending_recovery()
    {
        var callId = New(RecoveryState.Pending, extra: [(RecoveryFields.State, "Paused")]);
        Assert.Throws<FormatException>(() => _records.Get(callId)!.Record);
    }

    private static OutcomeMove Report(string callId, Outcome outcome, int callback, RetryPlan? retry) =>
        new(callId, "switch-a", outcome, Now, outcome == Outcome.Reconnected ? TimeSpan.FromSeconds(90) : TimeSpan.Zero, string.Empty, 4, "leg-2", callback, retry, "c1");

    private static RecoveryMove MoveOf(string callId, RecoveryTrigger trigger) => trigger switch
    {
        RecoveryTrigger.Dispatch => new DispatchMove(callId, "switch-a", "c1"),
        RecoveryTrigger.Shadow => new ShadowMove(callId, "switch-a", Now),
        RecoveryTrigger.Accept => new AcceptMove(callId, "switch-a", 1, "c1"),
        RecoveryTrigger.Reject => new RejectMove(callId, "switch-a", 1, "OVERLOADED", "c1"),
        RecoveryTrigger.AckTimeout => new AckTimeoutMove(callId),
        RecoveryTrigger.Progress => new ProgressMove(callId, "switch-a", Stage.CustomerRinging, Now, 0, "c1"),
        RecoveryTrigger.Outcome => Report(callId, Outcome.Reconnected, 0, null),
        RecoveryTrigger.Cancel => new CancelMove(callId, new PartyBarred(Customer, "opted out")),
        RecoveryTrigger.Expire => new ExpireMove(callId),
        RecoveryTrigger.Hold => new HoldMove(callId, Incident),
        RecoveryTrigger.Release => new IncidentRelease(callId, Incident),
        // What an outcome worth another callback becomes (a gap and callbacks left).
        RecoveryTrigger.Retry => Report(callId, Outcome.NoAnswer, 0, new RetryPlan(TimeSpan.FromSeconds(1), 3)),
        RecoveryTrigger.Defer => new DeferMove(callId, Now.AddMinutes(1), "quiet hours"),
        RecoveryTrigger.Schedule => new ScheduleMove(callId, Created: false),
        RecoveryTrigger.OutcomeTimeout => new OutcomeTimeoutMove(callId, TimeSpan.FromMinutes(15), TimeSpan.FromHours(4)),
        _ => throw new ArgumentOutOfRangeException(nameof(trigger)),
    };

    /// <summary>A recovery in the given state, as moves would have left it: of switch-a, attempt 1 out (and accepted, when acknowledged).</summary>
    private string New(RecoveryState state, bool deadlinePassed = false, int attempts = 1, string hold = "", bool releasedBefore = false, DateTimeOffset? silentSince = null,
        (string, string)[]? extra = null)
    {
        var callId = $"call-{Interlocked.Increment(ref _calls)}";
        var record = Record(callId, state, deadlinePassed) with { Hold = hold, Incident = hold == RecoveryLifecycle.HoldForOutage ? Incident : string.Empty };
        _records.Put(record,
        [
            (RecoveryFields.Attempts, attempts.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            (RecoveryFields.AcceptedAttempt, state == RecoveryState.Acknowledged ? "1" : "0"),
            .. silentSince is { } since ? [(RecoveryFields.LastReportAt, RecoveryRecord.Ms(since))] : Array.Empty<(string, string)>(),
            .. releasedBefore ? [(RecoveryFields.ReleasedAt, RecoveryRecord.Ms(Now.AddSeconds(-5)))] : Array.Empty<(string, string)>(),
            .. extra ?? [],
        ]);
        return callId;
    }

    internal static RecoveryRecord Record(string callId, RecoveryState state, bool deadlinePassed = false) => new()
    {
        RecoveryId = RecoveryIds.For(callId),
        CallId = callId,
        State = state,
        CallBack = Customer,
        OtherParty = Friend,
        DropTime = Now.AddMinutes(-1),
        AcceptedAt = Now.AddMinutes(-1),
        EventId = "e1",
        SwitchId = "switch-a",
        DueAt = Now.AddSeconds(-40),
        Deadline = deadlinePassed ? Now.AddSeconds(-1) : Now.AddMinutes(4),
        TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
}
