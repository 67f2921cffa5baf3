using System.Diagnostics.CodeAnalysis;
using CallRecovery.Contracts.V1;
using CallRecovery.Delivery;
using CallRecovery.Hosting;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Polly;
using Outcome = CallRecovery.Contracts.V1.Outcome;
using Polly.Retry;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.SwitchApi;

/// <summary>
/// A switch's acknowledgements and reports, each translated into one move through the lifecycle's door and answered:
/// confirmed (<see cref="ReportReceived"/>) once the move and its effects are durable, or refused on its own
/// (<see cref="ReportRefused"/>: malformed, another switch's recovery, or a failure of ours) while the stream goes on.
/// A report not recorded because Redis is away is neither confirmed nor refused: the stream ends, and the switch resends.
/// </summary>
public sealed partial class SwitchReports(
    RecoveryMoves moves,
    CallbackTiming timing,
    DurabilityBarrier durability,
    ServiceProblems problems,
    CallRecoveryTelemetry telemetry,
    TimeProvider time,
    ILogger<SwitchReports> logger,
    CrashPoints? crash = null,
    IOptions<TestingOptions>? testing = null)
{
    private readonly bool _plantDoubleSend = testing?.Value.PlantDoubleSend ?? false;

    /// <summary>
    /// How long a report is tried again while Redis is away before the stream ends: a blip of Redis (a failover, a
    /// restart) costs a moment, not every switch of the replica reconnecting at once.
    /// </summary>
    private static readonly ResiliencePipeline BlipRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(TransientErrors.IsTransient),
            MaxRetryAttempts = 8,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromSeconds(2),
        })
        .Build();

    /// <summary>Longest free text a switch may put in a report (failure cause, reconnect call id, rejection detail).</summary>
    public const int MaxReportText = 256;

    /// <summary>The recovery a message is about (its reports run in order per recovery), or empty.</summary>
    public static string RecoveryIdOf(SwitchMessage message) => message.MessageCase switch
    {
        SwitchMessage.MessageOneofCase.Ack => message.Ack.RecoveryId,
        SwitchMessage.MessageOneofCase.Progress => message.Progress.RecoveryId,
        SwitchMessage.MessageOneofCase.Outcome => message.Outcome.RecoveryId,
        _ => string.Empty,
    };

    /// <summary>One message from the switch, after its Hello.</summary>
    public async Task HandleAsync(SwitchConnection connection, SwitchMessage message)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(message);
        try
        {
            switch (message.MessageCase)
            {
                case SwitchMessage.MessageOneofCase.Ack:
                    await BlipRetry.ExecuteAsync(async _ => await AcknowledgeAsync(connection, message.Ack).ConfigureAwait(false)).ConfigureAwait(false);
                    break;
                case SwitchMessage.MessageOneofCase.Progress:
                    await BlipRetry.ExecuteAsync(async _ => await ProgressAsync(connection, message.Progress).ConfigureAwait(false)).ConfigureAwait(false);
                    break;
                case SwitchMessage.MessageOneofCase.Outcome:
                    await BlipRetry.ExecuteAsync(async _ => await OutcomeAsync(connection, message.Outcome).ConfigureAwait(false)).ConfigureAwait(false);
                    break;
                case SwitchMessage.MessageOneofCase.Hello:
                    Fail(StatusCode.InvalidArgument, "Hello may only be the first message of a stream.");
                    break;
                default:
                    throw new RefusedReport(RefusalReason.Malformed, "The message is empty or of a kind this service does not know.");
            }
        }
        catch (RefusedReport refused)
        {
            Refuse(connection, message, refused.Reason, refused.Message);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // Not recorded, so not confirmed. A switch resends unconfirmed reports when it reconnects: end the stream
            // so that it does, to this replica once Redis is back or to another one. An unrecorded acknowledgement
            // times out and its command comes again.
            problems.SawRedis(e);
            LogReportNotRecorded(message.MessageCase.ToString(), TransientErrors.Describe(e));
            Fail(StatusCode.Unavailable, $"The report could not be recorded ({TransientErrors.Describe(e)}); reconnect and resend unconfirmed reports.");
        }
        catch (Exception e) when (e is not RpcException and not OperationCanceledException)
        {
            LogReportFailed(e, message.MessageCase.ToString(), connection.SwitchId);
            Refuse(connection, message, RefusalReason.Internal, $"The service failed on this report ({TransientErrors.Describe(e)}).");
        }
    }

    private void Refuse(SwitchConnection connection, SwitchMessage message, RefusalReason reason, string detail)
    {
        var refusal = new ReportRefused { Reason = reason, Detail = detail };
        switch (message.MessageCase)
        {
            case SwitchMessage.MessageOneofCase.Ack:
                refusal.RecoveryId = message.Ack.RecoveryId;
                refusal.Attempt = message.Ack.Attempt;
                break;
            case SwitchMessage.MessageOneofCase.Progress:
                refusal.RecoveryId = message.Progress.RecoveryId;
                refusal.Stage = message.Progress.Stage;
                refusal.CallbackAttempt = message.Progress.CallbackAttempt;
                break;
            case SwitchMessage.MessageOneofCase.Outcome:
                refusal.RecoveryId = message.Outcome.RecoveryId;
                refusal.Outcome = message.Outcome.Outcome;
                refusal.CallbackAttempt = message.Outcome.CallbackAttempt;
                break;
        }

        // The switch's own text goes back only if it is a plausible recovery id; nothing else of it is echoed.
        if (!RecoveryIds.TryGetCallId(refusal.RecoveryId, out _))
        {
            refusal.RecoveryId = string.Empty;
        }

        telemetry.ReportRefused(reason.ToString(), connection.SwitchId);
        LogReportRefused(message.MessageCase.ToString(), connection.SwitchId, reason, detail);
        connection.TrySend(new ServiceMessage { ReportRefused = refusal });
    }

    private async Task AcknowledgeAsync(SwitchConnection connection, CommandAck ack)
    {
        // (The crash tests: the command reached the switch, its acknowledgement is not recorded.)
        crash?.Reached(CrashPoints.Sent);
        var callId = CallIdOf(ack.RecoveryId);
        var detail = SwitchText.Clean(Truncated(ack.Detail));
        var attempt = (int)Math.Min(ack.Attempt, int.MaxValue);
        var transition = await moves.ApplyAsync(ack.Accepted
            ? new AcceptMove(callId, connection.SwitchId, attempt, connection.Id)
            : new RejectMove(callId, connection.SwitchId, attempt, $"{ack.RejectReason}: {detail}", connection.Id)).ConfigureAwait(false);
        using var span = RecoveryTracing.StartStep("acknowledge", transition.Recovery?.TraceParent ?? string.Empty, ack.RecoveryId, callId, connection.SwitchId);
        span?.SetTag(RecoveryTracing.Attempt, attempt).SetTag("callrecovery.acknowledgement", transition.Verdict.ToString());
        if (!ack.Accepted)
        {
            connection.Rejected(callId, time.GetUtcNow());
            span?.SetTag("callrecovery.reject_reason", ack.RejectReason.ToString());
        }

        // This connection's window place for that delivery goes whatever the verdict: the switch answered for it (a
        // place it holds for a newer delivery stays).
        connection.Answered(callId, ack.Attempt);
        if (transition.Verdict == RecoveryVerdict.Forbidden)
        {
            throw Forbidden(connection, ack.RecoveryId);
        }

        if (!ack.Accepted)
        {
            LogRejected(ack.RecoveryId, connection.SwitchId, ack.RejectReason, detail);
            return;
        }

        // The go signal: the switch starts the callback only once its acceptance is confirmed, and only the acceptance
        // recorded is confirmed (another delivery's, accepted first, or a recovery that ended, gets a cancel instead),
        // so a callback is placed once however many deliveries and instances there were. Durable first.
        if (transition.Recovery is { } recovery && ((recovery.AcceptedAttempt == attempt && recovery.State is RecoveryState.Acknowledged or RecoveryState.Completed) || _plantDoubleSend))
        {
            await durability.WaitAsync().ConfigureAwait(false);
            connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = ack.RecoveryId, AcceptedAttempt = ack.Attempt, CallbackAttempt = (uint)recovery.CallbackAttempt } });
        }
    }

    private async Task ProgressAsync(SwitchConnection connection, ProgressReport report)
    {
        var callId = CallIdOf(report.RecoveryId);
        if (report.Stage == Stage.Unspecified || !Enum.IsDefined(report.Stage))
        {
            throw new RefusedReport(RefusalReason.Malformed, "stage is missing or unknown.");
        }

        var transition = await moves.ApplyAsync(new ProgressMove(callId, connection.SwitchId, report.Stage, TimeOf(report.At), CallbackOf(report.CallbackAttempt), connection.Id)).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Forbidden)
        {
            throw Forbidden(connection, report.RecoveryId);
        }

        await durability.WaitAsync().ConfigureAwait(false);
        problems.Clear(ServiceProblem.RedisRefusesWrites);
        connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = report.RecoveryId, Stage = report.Stage, CallbackAttempt = report.CallbackAttempt } });
    }

    private async Task OutcomeAsync(SwitchConnection connection, OutcomeReport report)
    {
        var callId = CallIdOf(report.RecoveryId);
        if (report.Outcome is Outcome.Unspecified or Outcome.Cancelled or Outcome.OutageNotRecovered or Outcome.CustomerUnreachable or Outcome.QuietHours or Outcome.NoReport || !Enum.IsDefined(report.Outcome))
        {
            throw new RefusedReport(RefusalReason.Malformed, "outcome is missing, unknown, or one only the service may set (cancelled, outage not recovered, customer unreachable, quiet hours, no report).");
        }

        if (report.TalkTime is { } talk && !ProtobufValues.IsValidNonNegative(talk))
        {
            throw new RefusedReport(RefusalReason.Malformed, "talk_time is negative or outside the range of a protobuf Duration.");
        }

        if (report.FailureCause.Length > MaxReportText || report.ReconnectCallId.Length > MaxReportText)
        {
            throw new RefusedReport(RefusalReason.Malformed, $"failure_cause and reconnect_call_id may hold at most {MaxReportText} characters.");
        }

        // The switch's words, cleaned of numbers before they are stored, published, logged or traced.
        var failureCause = SwitchText.Clean(report.FailureCause);
        var transition = await moves.ApplyAsync(new OutcomeMove(
            callId,
            connection.SwitchId,
            report.Outcome,
            TimeOf(report.At),
            report.TalkTime?.ToTimeSpan() ?? TimeSpan.Zero,
            failureCause,
            report.SurveyScore is >= 1 and <= 5 ? (int)report.SurveyScore : 0,
            SwitchText.Clean(report.ReconnectCallId),
            CallbackOf(report.CallbackAttempt),
            timing.IsRetryable(report.Outcome, failureCause) ? new RetryPlan(timing.RetryGap, timing.MaxCallbackAttempts) : null,
            connection.Id)).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Forbidden)
        {
            throw Forbidden(connection, report.RecoveryId);
        }

        if (transition.Verdict == RecoveryVerdict.Applied)
        {
            LogOutcome(report.RecoveryId, report.Outcome, connection.SwitchId);
        }

        await durability.WaitAsync().ConfigureAwait(false);
        problems.Clear(ServiceProblem.RedisRefusesWrites);
        connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = report.RecoveryId, Outcome = report.Outcome, CallbackAttempt = report.CallbackAttempt } });
    }

    private static int CallbackOf(uint callbackAttempt) => (int)Math.Min(callbackAttempt, int.MaxValue);

    private static string CallIdOf(string recoveryId) =>
        RecoveryIds.TryGetCallId(recoveryId, out var callId)
            ? callId
            : throw new RefusedReport(RefusalReason.Malformed, "recovery_id is not a recovery id this service issued.");

    /// <summary>A report's time: when the switch says, checked; now when it says nothing.</summary>
    private DateTimeOffset TimeOf(Timestamp? at) =>
        at is null ? time.GetUtcNow()
        : ProtobufValues.IsValid(at) ? at.ToDateTimeOffset()
        : throw new RefusedReport(RefusalReason.Malformed, "at lies outside the range of a protobuf Timestamp.");

    private static string Truncated(string text) => text.Length <= MaxReportText ? text : text[..MaxReportText];

    private RefusedReport Forbidden(SwitchConnection connection, string recoveryId)
    {
        LogForbidden(connection.SwitchId, recoveryId);
        return new RefusedReport(RefusalReason.Forbidden, $"The recovery does not belong to switch '{connection.SwitchId}'.");
    }

    [DoesNotReturn]
    private static void Fail(StatusCode code, string detail) => throw new RpcException(new Status(code, detail));

    /// <summary>One report refused; the stream stays open.</summary>
    private sealed class RefusedReport(RefusalReason reason, string message) : Exception(message)
    {
        public RefusalReason Reason { get; } = reason;
    }

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "Switch {SwitchId} may not act on {Subject}")]
    private partial void LogForbidden(string switchId, string subject);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Information, Message = "Recovery {RecoveryId} rejected by switch {SwitchId}: {Reason} {Detail}")]
    private partial void LogRejected(string recoveryId, string switchId, RejectReason reason, string detail);

    [LoggerMessage(EventId = 3205, Level = LogLevel.Information, Message = "Recovery {RecoveryId} outcome {Outcome} from switch {SwitchId}")]
    private partial void LogOutcome(string recoveryId, Outcome outcome, string switchId);

    [LoggerMessage(EventId = 3208, Level = LogLevel.Warning, Message = "{Report} from switch {SwitchId} refused: {Reason}: {Detail}")]
    private partial void LogReportRefused(string report, string switchId, RefusalReason reason, string detail);

    [LoggerMessage(EventId = 3209, Level = LogLevel.Error, Message = "{Report} from switch {SwitchId} failed; refused")]
    private partial void LogReportFailed(Exception exception, string report, string switchId);

    [LoggerMessage(EventId = 3207, Level = LogLevel.Warning, Message = "{Report} not recorded, Redis or Kafka unavailable: {Reason}")]
    private partial void LogReportNotRecorded(string report, string reason);
}
