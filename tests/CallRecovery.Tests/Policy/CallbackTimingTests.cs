using CallRecovery.Contracts.V1;
using CallRecovery.Policy;
using Microsoft.Extensions.Options;

namespace CallRecovery.Tests.Policy;

public sealed class CallbackTimingTests
{
    private static CallbackTiming Timing(QuietHoursOptions? quiet = null, RetryOptions? retries = null) =>
        new(Options.Create(new ClassificationOptions()), Options.Create(retries ?? new RetryOptions()), Options.Create(quiet ?? new QuietHoursOptions()));

    [Fact]
    public void A_time_at_three_in_the_morning_in_London_waits_until_nine_local()
    {
        // 03:00 BST on a summer night is 02:00 UTC; quiet hours end at 09:00 BST, 08:00 UTC.
        var at = new DateTimeOffset(2026, 7, 14, 2, 0, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 7, 14, 8, 0, 0, TimeSpan.Zero), Timing().QuietUntil("+447700900123", at));
    }

    [Fact]
    public void Late_evening_waits_for_the_next_morning_in_the_number_s_own_zone()
    {
        // 22:30 IST (Asia/Kolkata, UTC+5:30) is 17:00 UTC; 09:00 IST the next day is 03:30 UTC.
        var at = new DateTimeOffset(2026, 12, 5, 17, 0, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 12, 6, 3, 30, 0, TimeSpan.Zero), Timing().QuietUntil("+919812345678", at));
    }

    [Fact]
    public void Daytime_is_not_quiet_and_a_longer_prefix_wins()
    {
        var quiet = new QuietHoursOptions { TimeZones = new Dictionary<string, string> { ["+1212"] = "America/New_York", ["+1"] = "America/Los_Angeles" } };
        // 16:00 UTC: 11:00 in New York (not quiet), 08:00 in Los Angeles (quiet until 09:00).
        var at = new DateTimeOffset(2026, 12, 7, 16, 0, 0, TimeSpan.Zero);
        Assert.Null(Timing(quiet).QuietUntil("+12125550100", at));
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 17, 0, 0, TimeSpan.Zero), Timing(quiet).QuietUntil("+14155550100", at));
    }

    [Fact]
    public void Quiet_hours_can_be_turned_off()
    {
        var at = new DateTimeOffset(2026, 7, 14, 2, 0, 0, TimeSpan.Zero);
        Assert.Null(Timing(new QuietHoursOptions { Enabled = false }).QuietUntil("+447700900123", at));
    }

    [Theory]
    [InlineData(Outcome.NoAnswer, "", true)]
    [InlineData(Outcome.Busy, "", true)]
    [InlineData(Outcome.Failed, "q850:34 no circuit available", true)]
    [InlineData(Outcome.Failed, "q850:21 call rejected", false)]
    [InlineData(Outcome.CustomerDeclined, "", false)]
    [InlineData(Outcome.Reconnected, "", false)]
    public void Only_no_answer_busy_and_passing_failures_are_tried_again(Outcome outcome, string cause, bool retried) =>
        Assert.Equal(retried, Timing().IsRetryable(outcome, cause));

    [Fact]
    public void A_decline_is_never_tried_again_even_if_configured()
    {
        var retries = new RetryOptions { Outcomes = ["NoAnswer", "CustomerDeclined"] };
        Assert.False(Timing(retries: retries).IsRetryable(Outcome.CustomerDeclined, string.Empty));
    }

    [Theory]
    [InlineData(CauseProtocol.Radio, 0, "radio-connection-with-ue-lost", Party.Caller, true)]
    [InlineData(CauseProtocol.Q850, 27, "", Party.Unspecified, true)]
    [InlineData(CauseProtocol.Q850, 41, "", Party.Caller, false)]
    [InlineData(CauseProtocol.Radio, 0, "radio-connection-with-ue-lost", Party.Callee, false)]
    public void A_radio_loss_of_the_customer_waits_for_their_coverage(CauseProtocol protocol, int code, string name, Party dropped, bool waits)
    {
        var drop = new CallDrop("e1", "c1", "+447700900001", "+447700900002", dropped, ReleaseCauseKey.From(new ReleaseCause { Protocol = protocol, Code = code, Name = name }),
            DateTimeOffset.UtcNow.AddMinutes(-2), DateTimeOffset.UtcNow, "cell", "msc", AccessTechnology.Eutran, false, "test");
        // The customer is the caller here: a callee's radio loss says nothing about the caller's coverage.
        Assert.Equal(waits, Timing().WaitsForReachability(drop, "+447700900001"));
    }
}
