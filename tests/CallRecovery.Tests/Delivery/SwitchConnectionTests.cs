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
        Assert.True(connection.TrySendCommand("call-1", Command("call-1")));

        Assert.Equal([ServiceMessage.MessageOneofCase.Command, ServiceMessage.MessageOneofCase.Cancel], Drain(connection));
    }

    [Fact]
    public async Task A_paced_command_goes_at_its_slot_and_a_cancel_waits_for_it()
    {
        using var connection = new SwitchConnection("switch-a", "i-1", window: 4, time: _time);
        Assert.True(connection.TryReserve("call-1", Now));
        Assert.True(connection.TrySendCommand("call-1", Command("call-1"), Now.AddMilliseconds(80)));
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

    private static ServiceMessage Command(string callId) => new() { Command = new CallbackCommand { CallId = callId, Attempt = 1 } };

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
