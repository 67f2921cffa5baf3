using CallRecovery.Contracts.V1;
using CallRecovery.Delivery;
using CallRecovery.Recoveries;
using Grpc.Core;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.Tests.SwitchApi;

/// <summary>A switch's acknowledgements and reports, each one move through the door, answered on the connection it came on.</summary>
public sealed class SwitchReportsTests : IAsyncLifetime
{
    private readonly SwitchApiHarness _harness = new();
    private readonly SwitchConnection _connection = new("switch-a", "instance-1", window: 8);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _connection.Dispose();
        await _harness.DisposeAsync();
    }

    [Fact]
    public async Task A_stage_is_confirmed_once_recorded()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Acknowledged);
        await _harness.Reports.HandleAsync(_connection, new SwitchMessage { Progress = new ProgressReport { RecoveryId = recoveryId, Stage = Stage.CustomerAnswered, At = Timestamp.FromDateTimeOffset(SwitchApiHarness.Now), CallbackAttempt = 1 } });

        var confirmed = Assert.Single(Written()).ReportReceived;
        Assert.Equal((recoveryId, Stage.CustomerAnswered, 1u), (confirmed.RecoveryId, confirmed.Stage, confirmed.CallbackAttempt));
        Assert.Contains(nameof(Stage.CustomerAnswered), _harness.Records.Get("call-1")!.Record.StageTimes.Keys);
        Assert.Contains(_harness.Effects.Carried, t => t.Trigger == RecoveryTrigger.Progress && t.Effects.HasFlag(RecoveryEffects.PublishStage));
    }

    [Fact]
    public async Task A_report_on_another_switchs_recovery_is_refused_and_the_stream_goes_on()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Dispatched, switchId: "switch-b");
        await _harness.Reports.HandleAsync(_connection, new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = recoveryId, Outcome = Outcome.Reconnected } });

        var refused = Assert.Single(Written()).ReportRefused;
        Assert.Equal((RefusalReason.Forbidden, recoveryId, Outcome.Reconnected), (refused.Reason, refused.RecoveryId, refused.Outcome));
        Assert.Equal(RecoveryState.Dispatched, _harness.Records.Get("call-1")!.Record.State);
    }

    public static TheoryData<string, SwitchMessage> Malformed() => new()
    {
        { "not a recovery id", new SwitchMessage { Ack = new CommandAck { RecoveryId = "+447700900123", Attempt = 1, Accepted = true } } },
        { "no stage", new SwitchMessage { Progress = new ProgressReport { RecoveryId = RecoveryIds.For("call-1") } } },
        { "an outcome only the service sets", new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = RecoveryIds.For("call-1"), Outcome = Outcome.NoReport } } },
        { "a negative talk time", new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = RecoveryIds.For("call-1"), Outcome = Outcome.Reconnected, TalkTime = new Google.Protobuf.WellKnownTypes.Duration { Seconds = -5 } } } },
        { "free text too long", new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = RecoveryIds.For("call-1"), Outcome = Outcome.Failed, FailureCause = new string('x', 257) } } },
        { "an empty message", new SwitchMessage() },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_report_is_refused_naming_nothing_of_what_it_said(string what, SwitchMessage message)
    {
        _harness.Recovery(RecoveryState.Acknowledged);
        await _harness.Reports.HandleAsync(_connection, message);

        var refused = Assert.Single(Written()).ReportRefused;
        Assert.True(refused.Reason == RefusalReason.Malformed, what);
        Assert.DoesNotContain("+44", refused.ToString(), StringComparison.Ordinal);
        Assert.Empty(_harness.Effects.Carried);
    }

    [Fact]
    public async Task A_late_acceptance_is_recorded_and_frees_the_window_places_of_the_call()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Pending);
        Assert.True(_connection.TryReserve("call-1", SwitchApiHarness.Now));

        await _harness.Reports.HandleAsync(_connection, new SwitchMessage { Ack = new CommandAck { RecoveryId = recoveryId, Attempt = 1, Accepted = true } });

        // The place reserved for the next delivery is not attempt 1's: the acceptance frees it through the lifecycle
        // (the switch has the callback), not as an answer for that delivery.
        Assert.True(_connection.Holds("call-1"));
        Assert.True(Assert.Single(_harness.Effects.Carried).Effects.HasFlag(RecoveryEffects.ReleaseWindow));
        Assert.Equal(RecoveryState.Acknowledged, _harness.Records.Get("call-1")!.Record.State);
        // And the switch is told the callback is its own: go.
        var go = Assert.Single(Written()).ReportReceived;
        Assert.Equal((recoveryId, 1u), (go.RecoveryId, go.AcceptedAttempt));
    }

    [Fact]
    public async Task Only_the_acceptance_recorded_is_confirmed_and_a_superseded_one_is_not()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Dispatched, attempts: 2);
        await _harness.Reports.HandleAsync(_connection, new SwitchMessage { Ack = new CommandAck { RecoveryId = recoveryId, Attempt = 2, Accepted = true } });
        await _harness.Reports.HandleAsync(_connection, new SwitchMessage { Ack = new CommandAck { RecoveryId = recoveryId, Attempt = 1, Accepted = true } });

        var confirmed = Written().Where(m => m.ReportReceived is { AcceptedAttempt: > 0 }).Select(m => m.ReportReceived.AcceptedAttempt).ToList();
        Assert.Equal([2u], confirmed);
        Assert.Equal(RecoveryVerdict.Superseded, _harness.Effects.Carried.Last().Verdict);
    }

    [Fact]
    public async Task A_report_that_cannot_be_recorded_ends_the_stream_so_the_switch_resends_it()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Acknowledged);
        _harness.Records.BeforeWrite = _ => throw new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "Redis away");

        var ended = await Assert.ThrowsAsync<RpcException>(() => _harness.Reports.HandleAsync(_connection, new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = recoveryId, Outcome = Outcome.Reconnected } }));

        Assert.Equal(StatusCode.Unavailable, ended.StatusCode);
        Assert.Empty(Written());
    }

    [Fact]
    public async Task A_failure_of_ours_refuses_the_report_as_internal_without_words_of_the_failure()
    {
        var recoveryId = _harness.Recovery(RecoveryState.Acknowledged);
        _harness.Records.BeforeWrite = _ => throw new InvalidOperationException("a defect naming +447700900001");

        await _harness.Reports.HandleAsync(_connection, new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = recoveryId, Outcome = Outcome.Reconnected } });

        var refused = Assert.Single(Written()).ReportRefused;
        Assert.Equal(RefusalReason.Internal, refused.Reason);
        Assert.DoesNotContain("+44", refused.Detail, StringComparison.Ordinal);
    }

    private List<ServiceMessage> Written()
    {
        var written = new List<ServiceMessage>();
        while (_connection.Outbox.TryRead(out var message))
        {
            written.Add(message);
        }

        return written;
    }
}
