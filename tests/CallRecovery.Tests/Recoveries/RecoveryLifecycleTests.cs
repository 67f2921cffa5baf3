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
        { RecoveryState.Pending, RecoveryTrigger.Accept, "Acknowledged", CancelAtSwitch | LeaveQueue | ReleaseWindow | Supervise },
        { RecoveryState.Pending, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Pending, RecoveryTrigger.AckTimeout, "-", Requeue },
        { RecoveryState.Pending, RecoveryTrigger.Progress, "Acknowledged", PublishStage | LeaveQueue | ReleaseWindow | Supervise },
        { RecoveryState.Pending, RecoveryTrigger.Outcome, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Pending, RecoveryTrigger.Cancel, "Cancelled", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Pending, RecoveryTrigger.Expire, "Expired", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Pending, RecoveryTrigger.Hold, "Held", Park },
        { RecoveryState.Pending, RecoveryTrigger.Release, "-", Enqueue },
        { RecoveryState.Pending, RecoveryTrigger.Retry, "-", PublishOutcome | ReleaseWindow | Enqueue },
        { RecoveryState.Pending, RecoveryTrigger.Defer, "Pending", Enqueue | PublishDeferral },
        { RecoveryState.Pending, RecoveryTrigger.Schedule, "-", Enqueue | RecoveryEffects.Index },
        { RecoveryState.Pending, RecoveryTrigger.OutcomeTimeout, "-", None },
        { RecoveryState.Pending, RecoveryTrigger.Shadow, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },

        { RecoveryState.Dispatched, RecoveryTrigger.Dispatch, "Dispatched", SendCommand },
        { RecoveryState.Dispatched, RecoveryTrigger.Accept, "Acknowledged", CancelAtSwitch | LeaveQueue | ReleaseWindow | Supervise },
        { RecoveryState.Dispatched, RecoveryTrigger.Reject, "Pending", Requeue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.AckTimeout, "Dispatched", Requeue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Progress, "Acknowledged", PublishStage | LeaveQueue | ReleaseWindow | Supervise },
        { RecoveryState.Dispatched, RecoveryTrigger.Outcome, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Cancel, "Cancelled", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Expire, "Expired", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Dispatched, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Dispatched, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Dispatched, RecoveryTrigger.Retry, "Pending", PublishOutcome | ReleaseWindow | Enqueue },
        { RecoveryState.Dispatched, RecoveryTrigger.Defer, "Pending", ReleaseWindow | Enqueue | PublishDeferral },
        { RecoveryState.Dispatched, RecoveryTrigger.Schedule, "-", None },
        { RecoveryState.Dispatched, RecoveryTrigger.OutcomeTimeout, "-", None },
        { RecoveryState.Dispatched, RecoveryTrigger.Shadow, "-", None },

        { RecoveryState.Acknowledged, RecoveryTrigger.Dispatch, "-", LeaveQueue | Supervise },
        { RecoveryState.Acknowledged, RecoveryTrigger.Accept, "Acknowledged", CancelAtSwitch | LeaveQueue | ReleaseWindow | Supervise },
        { RecoveryState.Acknowledged, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.AckTimeout, "-", LeaveQueue | Supervise },
        { RecoveryState.Acknowledged, RecoveryTrigger.Progress, "Acknowledged", PublishStage | Supervise },
        { RecoveryState.Acknowledged, RecoveryTrigger.Outcome, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Acknowledged, RecoveryTrigger.Cancel, "Cancelled", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Acknowledged, RecoveryTrigger.Expire, "-", LeaveQueue | Supervise },
        { RecoveryState.Acknowledged, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Retry, "Pending", PublishOutcome | ReleaseWindow | Enqueue },
        { RecoveryState.Acknowledged, RecoveryTrigger.Defer, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.Schedule, "-", None },
        { RecoveryState.Acknowledged, RecoveryTrigger.OutcomeTimeout, "Expired", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Acknowledged, RecoveryTrigger.Shadow, "-", None },

        { RecoveryState.Completed, RecoveryTrigger.Dispatch, "-", LeaveQueue },
        { RecoveryState.Completed, RecoveryTrigger.Accept, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Completed, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.AckTimeout, "-", LeaveQueue },
        { RecoveryState.Completed, RecoveryTrigger.Progress, "Completed", PublishStage },
        { RecoveryState.Completed, RecoveryTrigger.Outcome, "-", PublishOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Completed, RecoveryTrigger.Cancel, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Expire, "-", LeaveQueue },
        { RecoveryState.Completed, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Defer, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.Schedule, "-", None },
        { RecoveryState.Completed, RecoveryTrigger.OutcomeTimeout, "-", LeaveQueue },
        { RecoveryState.Completed, RecoveryTrigger.Shadow, "-", PublishOutcome | LeaveQueue },

        { RecoveryState.Expired, RecoveryTrigger.Dispatch, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Expired, RecoveryTrigger.Accept, "-", CancelAtSwitch | LeaveQueue | ReleaseWindow },
        { RecoveryState.Expired, RecoveryTrigger.Reject, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Expired, RecoveryTrigger.AckTimeout, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Expired, RecoveryTrigger.Progress, "Expired", PublishStage },
        { RecoveryState.Expired, RecoveryTrigger.Outcome, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Expired, RecoveryTrigger.Cancel, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Expire, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Expired, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Defer, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.Schedule, "-", None },
        { RecoveryState.Expired, RecoveryTrigger.OutcomeTimeout, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Expired, RecoveryTrigger.Shadow, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },

        { RecoveryState.Cancelled, RecoveryTrigger.Dispatch, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Cancelled, RecoveryTrigger.Accept, "-", CancelAtSwitch | LeaveQueue | ReleaseWindow },
        { RecoveryState.Cancelled, RecoveryTrigger.Reject, "-", LeaveQueue | ReleaseWindow },
        { RecoveryState.Cancelled, RecoveryTrigger.AckTimeout, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Cancelled, RecoveryTrigger.Progress, "Cancelled", PublishStage },
        { RecoveryState.Cancelled, RecoveryTrigger.Outcome, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Cancelled, RecoveryTrigger.Cancel, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Cancelled, RecoveryTrigger.Expire, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Cancelled, RecoveryTrigger.Hold, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Release, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Defer, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.Schedule, "-", None },
        { RecoveryState.Cancelled, RecoveryTrigger.OutcomeTimeout, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },
        { RecoveryState.Cancelled, RecoveryTrigger.Shadow, "-", CancelAtSwitch | PublishOutcome | LeaveQueue },

        { RecoveryState.Held, RecoveryTrigger.Dispatch, "-", Park },
        { RecoveryState.Held, RecoveryTrigger.Accept, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Reject, "-", None },
        { RecoveryState.Held, RecoveryTrigger.AckTimeout, "-", Park },
        { RecoveryState.Held, RecoveryTrigger.Progress, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Outcome, "Completed", PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Held, RecoveryTrigger.Cancel, "Cancelled", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Held, RecoveryTrigger.Expire, "Expired", CancelAtSwitch | PublishOutcome | CountOutcome | LeaveQueue | ReleaseWindow },
        { RecoveryState.Held, RecoveryTrigger.Hold, "Held", Park },
        { RecoveryState.Held, RecoveryTrigger.Release, "Pending", Enqueue },
        { RecoveryState.Held, RecoveryTrigger.Retry, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Defer, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Schedule, "-", Park | RecoveryEffects.Index },
        { RecoveryState.Held, RecoveryTrigger.OutcomeTimeout, "-", None },
        { RecoveryState.Held, RecoveryTrigger.Shadow, "-", Park },
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
            // Out of every set of its switch's queue: due, in flight, deadlines, supervision.
            Assert.True(rule.Effects.HasFlag(LeaveQueue), $"{rule.From} --{rule.Trigger}--> {rule.To}");
        }
    }

    [Fact]
    public void Every_move_into_acknowledged_leaves_the_delivery_queue_and_awaits_the_outcome()
    {
        foreach (var rule in RecoveryLifecycle.Rules.Where(r => r.To == RecoveryState.Acknowledged))
        {
            Assert.True(rule.Effects.HasFlag(Supervise), $"{rule.From} --{rule.Trigger}--> {rule.To}");
            Assert.True(rule.Effects.HasFlag(LeaveQueue) || rule.From == RecoveryState.Acknowledged, $"{rule.From} --{rule.Trigger}--> {rule.To}");
        }
    }

    [Fact]
    public void The_scripts_get_every_name_they_use_from_the_code()
    {
        var lua = RecoveryLifecycle.LuaPrelude();
        Assert.Contains($"Version='{RecoveryFields.Version}'", lua, StringComparison.Ordinal);
        foreach (var script in Directory.GetFiles(ScriptsDirectory(), "*.lua"))
        {
            // No field name, state or trigger of a recovery is spelt out in a script: they come from the prelude.
            var text = File.ReadAllText(script);
            foreach (var name in Enum.GetNames<RecoveryState>().Concat(Enum.GetNames<RecoveryTrigger>()).Concat([RecoveryFields.RecoveryId, RecoveryFields.CallBack, RecoveryFields.EventId]))
            {
                Assert.DoesNotContain($"'{name}'", text, StringComparison.Ordinal);
            }
        }
    }

    private static string ScriptsDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "CallRecovery.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory.FullName, "services", "CallRecovery", "Recoveries", "Scripts");
    }
}
