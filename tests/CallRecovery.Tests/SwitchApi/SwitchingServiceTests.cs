using CallRecovery.Contracts.V1;
using CallRecovery.Recoveries;
using Grpc.Core;

namespace CallRecovery.Tests.SwitchApi;

/// <summary>The switch stream itself, on test doubles of the call context and the two streams: Hello first, Welcome, reports in order, and a broken stream's commands back in the queue.</summary>
public sealed class SwitchingServiceTests : IAsyncLifetime
{
    private readonly SwitchApiHarness _harness = new();
    private readonly TestAsyncStreamReader<SwitchMessage> _requests = new();
    private readonly TestServerStreamWriter<ServiceMessage> _responses = new();
    private readonly CancellationTokenSource _call = new(TimeSpan.FromMinutes(1));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _call.Dispose();
        await _harness.DisposeAsync();
    }

    [Fact]
    public async Task A_stream_that_does_not_begin_with_a_hello_is_refused()
    {
        _requests.Write(new SwitchMessage { Ack = new CommandAck { RecoveryId = RecoveryIds.For("call-1"), Attempt = 1, Accepted = true } });

        var refused = await Assert.ThrowsAsync<RpcException>(() => Connect());

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
    }

    [Fact]
    public async Task The_welcome_names_the_window_the_timeout_and_the_rate_and_the_instance_is_served_until_it_leaves()
    {
        _requests.Write(new SwitchMessage { Hello = new Hello { SwitchId = "switch-a", InstanceId = "i-1", MaxUnacknowledged = 1000, MaxCommandsPerSecond = 25 } });
        var connected = Connect();

        var welcome = (await _responses.NextAsync()).Welcome;
        Assert.Equal(((uint)_harness.Options.MaxUnacknowledgedPerConnection, 25u), (welcome.MaxUnacknowledged, welcome.MaxCommandsPerSecond));
        Assert.Equal(_harness.Options.AcknowledgementTimeout, welcome.AcknowledgementTimeout.ToTimeSpan());
        Assert.Single(_harness.Connections.Of("switch-a"));

        _requests.Complete();
        await connected.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(_harness.Connections.Of("switch-a"));
    }

    [Fact]
    public async Task Reports_of_one_recovery_are_taken_in_the_order_sent()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Dispatched);
        _requests.Write(new SwitchMessage { Hello = new Hello { SwitchId = "switch-a", InstanceId = "i-1" } });
        var connected = Connect();
        await _responses.NextAsync();

        _requests.Write(new SwitchMessage { Ack = new CommandAck { RecoveryId = recoveryId, Attempt = 1, Accepted = true } });
        foreach (var stage in new[] { Stage.CustomerRinging, Stage.CustomerAnswered, Stage.OfferAccepted })
        {
            _requests.Write(new SwitchMessage { Progress = new ProgressReport { RecoveryId = recoveryId, Stage = stage, CallbackAttempt = 1 } });
        }

        _requests.Write(new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = recoveryId, Outcome = Outcome.CustomerDeclined, CallbackAttempt = 1 } });
        var confirmed = new List<ServiceMessage>();
        for (var i = 0; i < 5; i++)
        {
            confirmed.Add(await _responses.NextAsync());
        }

        // The acceptance first (the go signal), then each report.
        Assert.Equal(1u, confirmed[0].ReportReceived.AcceptedAttempt);
        Assert.Equal([Stage.CustomerRinging, Stage.CustomerAnswered, Stage.OfferAccepted], confirmed.Skip(1).Take(3).Select(m => m.ReportReceived.Stage));
        Assert.Equal(Outcome.CustomerDeclined, confirmed[4].ReportReceived.Outcome);
        Assert.Equal(
            [RecoveryTrigger.Accept, RecoveryTrigger.Progress, RecoveryTrigger.Progress, RecoveryTrigger.Progress, RecoveryTrigger.Outcome],
            _harness.Effects.Carried.Select(t => t.Trigger));
        _requests.Complete();
        await connected.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_stream_that_breaks_sends_the_commands_it_held_round_again()
    {
        _harness.Recovery(RecoveryState.Dispatched);
        _requests.Write(new SwitchMessage { Hello = new Hello { SwitchId = "switch-a", InstanceId = "i-1" } });
        var connected = Connect();
        await _responses.NextAsync();
        Assert.True(_harness.Connections.Of("switch-a").Single().TryReserve("call-1", SwitchApiHarness.Now));

        await _call.CancelAsync();
        await connected.WaitAsync(TimeSpan.FromSeconds(30));

        var again = Assert.Single(_harness.Effects.Carried);
        Assert.Equal((RecoveryTrigger.AckTimeout, RecoveryEffects.Requeue | RecoveryEffects.ReleaseWindow), (again.Trigger, again.Effects));
    }

    private Task Connect() => _harness.Service.Connect(_requests, _responses, new TestServerCallContext(_call.Token));
}
