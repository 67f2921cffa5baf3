using CallRecovery.Contracts.V1;
using CallRecovery.Delivery;
using Microsoft.Extensions.Time.Testing;

namespace CallRecovery.Tests.Delivery;

/// <summary>One switch stream's outbox: a cancel never goes out before the command it withdraws, however the two race.</summary>
public sealed class SwitchConnectionTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Now);

    [Fact]
    public void A_cancel_that_arrives_while_its_command_is_being_sent_follows_the_command()
    {
        using var connection = new SwitchConnection("switch-a", "i-1", window: 4, time: _time);
        Assert.True(connection.TryReserve("call-1", Now));

        // Another replica's cancel is read while this one is still between reserving the place and writing the command.
        connection.SendCancel("call-1", Cancel("call-1"));
        Assert.False(connection.Outbox.TryPeek(out _));
        Assert.Equal(CommandWrite.Written, connection.TrySendCommand("call-1", Command("call-1")));

        Assert.Equal([ServiceMessage.MessageOneofCase.Command, ServiceMessage.MessageOneofCase.Cancel], Drain(connection));
    }

    [Fact]
    public async Task A_paced_command_goes_at_its_slot_and_a_cancel_waits_for_it()
    {
        using var connection = new SwitchConnection("switch-a", "i-1", window: 4, time: _time);
        Assert.True(connection.TryReserve("call-1", Now));
        Assert.Equal(CommandWrite.Written, connection.TrySendCommand("call-1", Command("call-1"), Now.AddMilliseconds(80)));
        connection.SendCancel("call-1", Cancel("call-1"));
        Assert.Empty(Drain(connection));

        _time.Advance(TimeSpan.FromMilliseconds(80));
        await WaitForAsync(() => connection.Outbox.Count == 2);

        Assert.Equal([ServiceMessage.MessageOneofCase.Command, ServiceMessage.MessageOneofCase.Cancel], Drain(connection));
    }

    [Fact]
    public void A_cancel_for_another_call_or_a_place_given_up_goes_at_once()
    {
        using var connection = new SwitchConnection("switch-a", "i-1", window: 4, time: _time);
        connection.SendCancel("call-9", Cancel("call-9"));
        Assert.True(connection.TryReserve("call-1", Now));
        connection.SendCancel("call-1", Cancel("call-1"));
        connection.Release("call-1");

        Assert.Equal([ServiceMessage.MessageOneofCase.Cancel, ServiceMessage.MessageOneofCase.Cancel], Drain(connection));
    }

    [Fact]
    public async Task A_late_answer_for_an_earlier_delivery_leaves_the_place_of_the_newer_one_and_its_command_goes_out()
    {
        using var connection = new SwitchConnection("switch-a", "i-1", window: 4, time: _time);
        Assert.True(connection.TryReserve("call-1", Now));
        Assert.Equal(CommandWrite.Written, connection.TrySendCommand("call-1", Command("call-1", attempt: 1)));
        Assert.Single(Drain(connection));

        // Attempt 1 timed out; attempt 2 is reserved here, paced a little later.
        connection.ReleaseSentBefore(Now.AddSeconds(1));
        Assert.True(connection.TryReserve("call-1", Now));
        Assert.False(connection.Answered("call-1", attempt: 1), "an answer for attempt 1 before attempt 2 is handed over keeps the place");
        Assert.Equal(CommandWrite.Written, connection.TrySendCommand("call-1", Command("call-1", attempt: 2), Now.AddMilliseconds(50)));

        // The switch's rejection of attempt 1 arrives now: attempt 2 keeps its place and is still written.
        Assert.False(connection.Answered("call-1", attempt: 1));
        Assert.True(connection.Holds("call-1"));
        _time.Advance(TimeSpan.FromMilliseconds(50));
        await WaitForAsync(() => connection.Outbox.Count == 1);
        Assert.Equal([ServiceMessage.MessageOneofCase.Command], Drain(connection));

        Assert.True(connection.Answered("call-1", attempt: 2));
        Assert.False(connection.Holds("call-1"));
    }

    [Fact]
    public async Task A_paced_command_that_cannot_be_written_near_its_slot_waits_for_a_new_slot_and_its_cancel_behind_it()
    {
        using var connection = new SwitchConnection("switch-a", "i-1", window: 4, time: _time);
        Assert.True(connection.TryReserve("call-1", Now));
        Assert.True(connection.TryReserve("call-2", Now));

        // Handed over after its slot had passed (a slow round): not written, its place kept, listed for a new slot.
        Assert.Equal(CommandWrite.MissedSlot, connection.TrySendCommand("call-1", Command("call-1"), Now - Pace.LateWrite - TimeSpan.FromMilliseconds(1)));
        Assert.True(connection.Holds("call-1"));

        // Waiting for its slot, and the writer wakes too late.
        Assert.Equal(CommandWrite.Written, connection.TrySendCommand("call-2", Command("call-2"), Now.AddMilliseconds(10)));
        _time.Advance(TimeSpan.FromMilliseconds(10) + Pace.LateWrite + TimeSpan.FromMilliseconds(5));
        await WaitForAsync(() => connection.TakeMissedSlots() is var m && m.Count > 0 && Requeue(m));
        connection.SendCancel("call-2", Cancel("call-2"));
        Assert.Empty(Drain(connection));

        // New slots: written there, the cancel right behind its command.
        var later = _time.GetUtcNow().AddMilliseconds(5);
        foreach (var (callId, command) in _missed)
        {
            Assert.Equal(CommandWrite.Written, connection.TrySendCommand(callId, command, later));
        }

        _time.Advance(TimeSpan.FromMilliseconds(5));
        await WaitForAsync(() => connection.Outbox.Count == 3);
        // Written in the order of the outbox: the cancel after call-2's command (whichever of the two commands went first).
        var written = new List<ServiceMessage>();
        while (connection.Outbox.TryRead(out var message))
        {
            written.Add(message);
        }

        Assert.Equal(3, written.Count);
        var commandAt = written.FindIndex(m => m.Command?.CallId == "call-2");
        var cancelAt = written.FindIndex(m => m.MessageCase == ServiceMessage.MessageOneofCase.Cancel);
        Assert.True(commandAt >= 0 && cancelAt > commandAt, $"the cancel at {cancelAt}, call-2's command at {commandAt}");
    }

    private readonly List<(string CallId, ServiceMessage Command)> _missed = [];

    private bool Requeue(IReadOnlyList<(string CallId, ServiceMessage Command)> missed)
    {
        _missed.AddRange(missed);
        return _missed.Count == 2;
    }

    private static ServiceMessage Command(string callId, uint attempt = 1) => new() { Command = new CallbackCommand { CallId = callId, Attempt = attempt } };

    private static ServiceMessage Cancel(string callId) => new() { Cancel = new CancelCommand { RecoveryId = callId, CallbackAttempt = 1 } };

    private static List<ServiceMessage.MessageOneofCase> Drain(SwitchConnection connection)
    {
        var kinds = new List<ServiceMessage.MessageOneofCase>();
        while (connection.Outbox.TryRead(out var message))
        {
            kinds.Add(message.MessageCase);
        }

        return kinds;
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, limit.Token);
        }
    }
}
