using Microsoft.Extensions.Time.Testing;
using CallRecovery.Delivery;

namespace CallRecovery.Tests.Delivery;

public sealed class DispatchSignalTests
{
    private static readonly TimeSpan Poll = TimeSpan.FromHours(1);

    [Fact]
    public async Task Every_announced_due_time_wakes_the_loop_not_only_the_earliest()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var signal = new DispatchSignal(time);
        var start = time.GetUtcNow();
        signal.DueAt(start.AddMilliseconds(100));
        signal.DueAt(start.AddMilliseconds(200));
        signal.DueAt(start.AddMilliseconds(300));

        foreach (var at in new[] { 150, 250, 350 })
        {
            time.SetUtcNow(start.AddMilliseconds(at));
            Assert.True(signal.WaitAsync(Poll, CancellationToken.None).IsCompletedSuccessfully, $"due time before {at} ms woke the loop");
        }

        // Nothing more is due: the loop sleeps (until a wake-up or the poll).
        var sleeping = signal.WaitAsync(Poll, CancellationToken.None);
        Assert.False(sleeping.IsCompleted);
        signal.Wake();
        await sleeping;
    }

    [Fact]
    public async Task An_announcement_earlier_than_the_planned_wake_up_wakes_the_loop_to_plan_again()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var signal = new DispatchSignal(time);
        signal.DueAt(time.GetUtcNow().AddSeconds(10));
        var sleeping = signal.WaitAsync(Poll, CancellationToken.None);
        Assert.False(sleeping.IsCompleted);

        signal.DueAt(time.GetUtcNow().AddSeconds(1));

        await sleeping;
    }

    [Fact]
    public async Task A_due_time_announced_while_the_loop_is_awake_does_not_cost_it_an_empty_round()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var signal = new DispatchSignal(time);

        // The loop is awake (in a dispatch round) and learns when the next command is due.
        signal.DueAt(time.GetUtcNow().AddSeconds(10));

        // It goes to sleep until then, not round again at once.
        var sleeping = signal.WaitAsync(Poll, CancellationToken.None);
        Assert.False(sleeping.IsCompleted);
        signal.Wake();
        await sleeping;
    }

    [Fact]
    public void A_due_time_later_than_the_planned_wake_up_lets_the_loop_sleep_on()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var signal = new DispatchSignal(time);
        signal.DueAt(time.GetUtcNow().AddSeconds(1));
        var sleeping = signal.WaitAsync(Poll, CancellationToken.None);

        signal.DueAt(time.GetUtcNow().AddSeconds(5));

        Assert.False(sleeping.IsCompleted);
        signal.Wake();
    }
}
