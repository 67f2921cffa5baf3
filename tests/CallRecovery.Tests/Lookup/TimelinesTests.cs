using CallRecovery.Decisions;
using CallRecovery.Lookup;
using CallRecovery.Policy;
using CallRecovery.Recoveries;



namespace CallRecovery.Tests.Lookup;

public class TimelinesTests
{
    private static readonly DateTimeOffset Dropped = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_recovered_call_reads_in_time_order_with_masked_numbers()
    {
        var decision = new DecisionRecord { EventId = "e1", CallId = "c1", Reason = DecisionReason.Accepted, DecidedAt = Dropped.AddMilliseconds(300), DropTime = Dropped, Cause = "q850:41", RecoveryId = "r" };
        var recovery = new RecoveryRecord
        {
            RecoveryId = "r", CallId = "c1", State = RecoveryState.Completed, CallBack = "+447700900123", OtherParty = "+447700900456",
            DropTime = Dropped, AcceptedAt = Dropped.AddMilliseconds(300), EventId = "e1", SwitchId = "switch-a",
            DueAt = Dropped.AddSeconds(20), Deadline = Dropped.AddMinutes(5), Attempts = 1, FirstDispatchedAt = Dropped.AddSeconds(20.1),
            AcknowledgedAt = Dropped.AddSeconds(20.2), Outcome = "Reconnected", CompletedAt = Dropped.AddMinutes(3), TalkTime = TimeSpan.FromSeconds(150),
            StageTimes = new Dictionary<string, DateTimeOffset> { ["Bridged"] = Dropped.AddSeconds(40) },
        };

        var timeline = Timelines.Build("c1", [decision], recovery);

        Assert.Equal(["dropped", "decided: accepted", "callback due", "callback sent", "acknowledged", "stage: Bridged", "outcome: Reconnected"], timeline.Entries.Select(e => e.What));
        Assert.Equal(TimeSpan.FromSeconds(20.1), timeline.Entries[3].SinceDrop.ToTimeSpan());
        Assert.Equal("+44********23", timeline.CustomerMasked);
        Assert.Contains("talked 2:30", timeline.Entries[^1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_suppressed_call_says_why()
    {
        var decision = new DecisionRecord { EventId = "e1", CallId = "c2", Reason = DecisionReason.NormalClearing, Detail = "cause q850:16 is not a network drop", DecidedAt = Dropped.AddSeconds(1), DropTime = Dropped, Cause = "q850:16" };
        var timeline = Timelines.Build("c2", [decision], recovery: null);
        Assert.Equal("not recovered", timeline.State);
        Assert.Contains(timeline.Entries, e => e.What == "decided: normal_clearing" && e.Detail.Contains("q850:16", StringComparison.Ordinal));
    }
}
