using static CallRecovery.Recoveries.RecoveryEffects;
using CallRecovery.Recoveries;

namespace CallRecovery.Tests.Recoveries;

/// <summary>Every (state, trigger) pair of the lifecycle: where it leads and what it emits, written out once more by hand.</summary>
public class RecoveryLifecycleTests
{
    private const RecoveryEffects Ending = PublishOutcome | CountOutcome | LeaveQueue | CancelAtSwitch | ReleaseWindow;
    private const RecoveryEffects Finishing = PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow;

    // From, trigger, to ("-" = nothing changes), effects.
    public static TheoryData<RecoveryState, RecoveryTrigger, string, RecoveryEffects> Expected => new()
    {
        { RecoveryState.Pending, RecoveryTrigger.Dispatch, "Dispatched", SendCommand },
        { RecoveryState.Pending, RecoveryTrigger.Accept, "-", None },
        { RecoveryState.Pending, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Pending, RecoveryTrigger.AckTimeout, "-", None },
        { RecoveryState.Pending, RecoveryTrigger.Progress, "Acknowledged", PublishStage | LeaveQueue | ReleaseWindow },
        { RecoveryState.Pending, RecoveryTrigger.Outcome, "Completed", Finishing },
        { RecoveryState.Pending, RecoveryTrigger.Cancel, "Cancelled", Ending },
        { RecoveryState.Pending, RecoveryTrigger.Expire, "Expired", Ending },
        { RecoveryState.Pending, RecoveryTrigger.Hold, "Held", Park },
        { RecoveryState.Pending, RecoveryTrigger.Release, "-", Enqueue },
        { RecoveryState.Pending, RecoveryTrigger.Retry, "-", PublishOutcome | Enqueue | ReleaseWindow },
        { RecoveryState.Pending, RecoveryTrigger.Defer, "-", None },

        { RecoveryState.Dispatched, RecoveryTrigger.Dispatch, "Dispatched", SendCommand },
        { RecoveryState.Dispatched, RecoveryTrigger.Accept, "Acknowledged", LeaveQueue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Reject, "Pending", Requeue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.AckTimeout, "Dispatched", Requeue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Progress, "Acknowledged", PublishStage | LeaveQueue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Outcome, "Completed", Finishing },
        { RecoveryState.Dispatched, RecoveryTrigger.Cancel, "Cancelled", Ending },
        { RecoveryState.Dispatched, RecoveryTrigger.Expire, "Expired", Ending },
        { RecoveryState.Dispatched, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Dispatched, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Dispatched, RecoveryTrigger.Retry, "Pending", PublishOutcome | Enqueue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Defer, "Pending", Enqueue | ReleaseWindow },

        { RecoveryState.Acknowledged, RecoveryTrigger.Dispatch, "-", LeaveQueue },
        { RecoveryState.Acknowledged, RecoveryTrigger.Accept, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Acknowledged, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.AckTimeout, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Progress, "Acknowledged", PublishStage },
        { RecoveryState.Acknowledged, RecoveryTrigger.Outcome, "Completed", Finishing & ~LeaveQueue },
        { RecoveryState.Acknowledged, RecoveryTrigger.Cancel, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Expire, "-", LeaveQueue },
        { RecoveryState.Acknowledged, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Retry, "Pending", PublishOutcome | Enqueue | ReleaseWindow },
        { RecoveryState.Acknowledged, RecoveryTrigger.Defer, "-", None },

        { RecoveryState.Completed, RecoveryTrigger.Dispatch, "-", LeaveQueue },
        { RecoveryState.Completed, RecoveryTrigger.Accept, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Completed, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.AckTimeout, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Progress, "Completed", PublishStage },
        { RecoveryState.Completed, RecoveryTrigger.Outcome, "-", PublishOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Completed, RecoveryTrigger.Cancel, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Expire, "-", LeaveQueue },
        { RecoveryState.Completed, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Defer, "-", None },

        { RecoveryState.Expired, RecoveryTrigger.Dispatch, "-", LeaveQueue },
        { RecoveryState.Expired, RecoveryTrigger.Accept, "-", CancelAtSwitch | LeaveQueue | ReleaseWindow },
        { RecoveryState.Expired, RecoveryTrigger.Reject, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Expired, RecoveryTrigger.AckTimeout, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Progress, "Expired", PublishStage },
        { RecoveryState.Expired, RecoveryTrigger.Outcome, "Completed", Finishing },
        { RecoveryState.Expired, RecoveryTrigger.Cancel, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Expire, "-", PublishOutcome | LeaveQueue | CancelAtSwitch },
        { RecoveryState.Expired, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Defer, "-", None },

        { RecoveryState.Cancelled, RecoveryTrigger.Dispatch, "-", LeaveQueue },
        { RecoveryState.Cancelled, RecoveryTrigger.Accept, "-", CancelAtSwitch | LeaveQueue | ReleaseWindow },
        { RecoveryState.Cancelled, RecoveryTrigger.Reject, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Cancelled, RecoveryTrigger.AckTimeout, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Progress, "Cancelled", PublishStage },
        { RecoveryState.Cancelled, RecoveryTrigger.Outcome, "Completed", Finishing },
        { RecoveryState.Cancelled, RecoveryTrigger.Cancel, "-", PublishOutcome | LeaveQueue | CancelAtSwitch },
        { RecoveryState.Cancelled, RecoveryTrigger.Expire, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Defer, "-", None },

        { RecoveryState.Held, RecoveryTrigger.Dispatch, "-", Park },
        { RecoveryState.Held, RecoveryTrigger.Accept, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Held, RecoveryTrigger.AckTimeout, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Progress, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Outcome, "Completed", Finishing },
        { RecoveryState.Held, RecoveryTrigger.Cancel, "Cancelled", Ending },
        { RecoveryState.Held, RecoveryTrigger.Expire, "Expired", Ending },
        { RecoveryState.Held, RecoveryTrigger.Hold, "Held", Park },
        { RecoveryState.Held, RecoveryTrigger.Release, "Pending", Enqueue },
        { RecoveryState.Held, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Defer, "-", None },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void Each_state_and_trigger_leads_where_the_table_says_and_emits_what_it_says(RecoveryState from, RecoveryTrigger trigger, string to, RecoveryEffects effects)
    {
        var rule = RecoveryLifecycle.Rule(from, trigger);
        Assert.Equal(to, rule.To?.ToString() ?? "-");
        Assert.Equal(effects, rule.Effects);
        Assert.NotEmpty(rule.Why);
    }

    [Fact]
    public void Every_pair_is_written_out_above()
    {
        var covered = Expected.Select(row => ((RecoveryState)row[0], (RecoveryTrigger)row[1])).ToHashSet();
        var all = Enum.GetValues<RecoveryState>().SelectMany(s => Enum.GetValues<RecoveryTrigger>().Select(t => (s, t)));
        Assert.All(all, pair => Assert.Contains(pair, covered));
        Assert.Equal(RecoveryLifecycle.Rules.Count, RecoveryLifecycle.Rules.Select(r => (r.From, r.Trigger)).Distinct().Count());
    }

    [Fact]
    public void Nothing_leaves_a_final_state_but_a_switch_reporting_what_it_did()
    {
        foreach (var rule in RecoveryLifecycle.Rules.Where(r => RecoveryLifecycle.IsFinal(r.From) && r.To is { } to && to != r.From))
        {
            Assert.Equal(RecoveryTrigger.Outcome, rule.Trigger);
            Assert.Equal(RecoveryState.Completed, rule.To);
        }
    }

    [Fact]
    public void Every_move_into_a_final_state_publishes_and_counts_its_outcome_and_leaves_the_queue()
    {
        foreach (var rule in RecoveryLifecycle.Rules.Where(r => r.To is { } to && RecoveryLifecycle.IsFinal(to) && to != r.From))
        {
            Assert.True(rule.Effects.HasFlag(PublishOutcome | CountOutcome), $"{rule.From} --{rule.Trigger}--> {rule.To}");
            // An acknowledged recovery left the queue when it was acknowledged (see below); any other leaves it now.
            Assert.True(rule.Effects.HasFlag(LeaveQueue) || rule.From == RecoveryState.Acknowledged, $"{rule.From} --{rule.Trigger}--> {rule.To}");
        }
    }

    [Fact]
    public void Every_move_into_acknowledged_leaves_the_queue()
    {
        foreach (var rule in RecoveryLifecycle.Rules.Where(r => r.To == RecoveryState.Acknowledged && r.From != RecoveryState.Acknowledged))
        {
            Assert.True(rule.Effects.HasFlag(LeaveQueue), $"{rule.From} --{rule.Trigger}--> {rule.To}");
        }
    }

    [Fact]
    public void The_scripts_get_the_states_verdicts_and_moves_from_the_table()
    {
        var lua = RecoveryLifecycle.LuaPrelude();
        Assert.All(Enum.GetValues<RecoveryState>(), s => Assert.Contains($"{s}='{s}'", lua, StringComparison.Ordinal));
        Assert.All(Enum.GetValues<RecoveryVerdict>(), v => Assert.Contains($"{v}='{v}'", lua, StringComparison.Ordinal));
        Assert.Contains("['Pending|Dispatch']='Dispatched'", lua, StringComparison.Ordinal);
        Assert.DoesNotContain("['Pending|Accept']", lua, StringComparison.Ordinal);
    }
}
