using CallRecovery.Security;
using System.Diagnostics.CodeAnalysis;
using CallRecovery.Contracts.V1;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Grpc.Core;
using Microsoft.Extensions.Options;
using CallRecovery.Delivery;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Recoveries;

namespace CallRecovery.SwitchApi;

/// <summary>
/// The switching platform's stream: Hello, then commands out and acknowledgements, progress and outcomes in.
/// Any replica serves any switch; everything a report changes lives in Redis.
/// </summary>
public sealed partial class SwitchingService(
    SwitchConnections connections,
    RecoveryStore store,
    RecoveryScheduler scheduler,
    CallbackTiming timing,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<SwitchingService> logger) : Switching.SwitchingBase
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Longest free text a switch may put in a report (failure cause, reconnect call id, rejection detail).</summary>
    private const int MaxReportText = 256;
    private readonly SwitchingOptions _options = options.Value;

    public override async Task Connect(IAsyncStreamReader<SwitchMessage> requestStream, IServerStreamWriter<ServiceMessage> responseStream, ServerCallContext context)
    {
        var hello = await ReadHelloAsync(requestStream, context).ConfigureAwait(false);
        await AuthorizeAsync(hello.SwitchId, context).ConfigureAwait(false);

        var window = hello.MaxUnacknowledged == 0 ? _options.MaxUnacknowledgedPerConnection : (int)Math.Min(hello.MaxUnacknowledged, (uint)_options.MaxUnacknowledgedPerConnection);
        var admissionRate = _options.AdmissionRateOf(hello.SwitchId, hello.MaxCommandsPerSecond);
        using var connection = new SwitchConnection(hello.SwitchId, hello.InstanceId, window, admissionRate);
        var writer = WriteAllAsync(connection, responseStream, context.CancellationToken);
        connection.TrySend(new ServiceMessage
        {
            Welcome = new Welcome
            {
                ConnectionId = connection.Id,
                MaxUnacknowledged = (uint)window,
                AcknowledgementTimeout = Duration.FromTimeSpan(_options.AcknowledgementTimeout),
                MaxCommandsPerSecond = (uint)admissionRate,
            },
        });
        connections.Add(connection);
        LogConnected(hello.SwitchId, hello.InstanceId, connection.Id, window);
        // Ends when the switch goes away or, at once, when this replica begins to shut down.
        using var session = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping, connection.Closing);
        // Reports are handled concurrently, in order per recovery: the reader never waits on one report's Redis work.
        using var lanes = new ReportLanes(MaxReportsInFlight, session);
        try
        {
            while (await requestStream.MoveNext(session.Token).ConfigureAwait(false))
            {
                connection.Answered();
                var message = requestStream.Current;
                await lanes.EnqueueAsync(RecoveryIdOf(message), () => HandleAsync(connection, message)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && session.IsCancellationRequested)
        {
            // The switch went away, or we are stopping (or a report ended the stream); unacknowledged commands go round again below.
        }
        finally
        {
            // Reports under way finish first, so an acknowledgement being recorded is not also requeued.
            await lanes.DrainAsync().ConfigureAwait(false);
            connections.Remove(connection);
            connection.Complete();
            await RequeueUnacknowledgedAsync(connection).ConfigureAwait(false);
            await writer.ConfigureAwait(false);
            LogDisconnected(hello.SwitchId, hello.InstanceId, connection.Id);
        }

        if (lanes.Failure is { } failure)
        {
            // A report ended the stream (Redis unavailable, or a protocol error): the switch sees why.
            throw failure;
        }

        if (connection.Closing.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            Fail(StatusCode.Unavailable, "This stream stopped acknowledging commands and was closed; reconnect.");
        }

        if (lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            // Unacknowledged commands are back in Redis for the other replicas; the switch reconnects to one of them.
            Fail(StatusCode.Unavailable, "This replica is shutting down; reconnect (to another replica).");
        }
    }

    /// <summary>How many reports of one stream may be in hand at once; the reader waits beyond that (backpressure to the switch).</summary>
    private const int MaxReportsInFlight = 512;

    private static string RecoveryIdOf(SwitchMessage message) => message.MessageCase switch
    {
        SwitchMessage.MessageOneofCase.Ack => message.Ack.RecoveryId,
        SwitchMessage.MessageOneofCase.Progress => message.Progress.RecoveryId,
        SwitchMessage.MessageOneofCase.Outcome => message.Outcome.RecoveryId,
        _ => string.Empty,
    };

    private static async Task<Hello> ReadHelloAsync(IAsyncStreamReader<SwitchMessage> requestStream, ServerCallContext context)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        timeout.CancelAfter(HelloTimeout);
        if (!await requestStream.MoveNext(timeout.Token).ConfigureAwait(false) || requestStream.Current.MessageCase != SwitchMessage.MessageOneofCase.Hello)
        {
            Fail(StatusCode.InvalidArgument, "The first message on the stream must be a Hello.");
        }

        var hello = requestStream.Current.Hello;
        if (!SwitchIds.IsValid(hello.SwitchId))
        {
            Fail(StatusCode.InvalidArgument, "Hello.switch_id must be 1-64 letters, digits, '.', '_' or '-'.");
        }

        return hello;
    }

    /// <summary>With mutual TLS, the certificate (already validated against the switch CA by Kestrel) names the switch.</summary>
    private async Task AuthorizeAsync(string switchId, ServerCallContext context)
    {
        if (!_options.RequireClientCertificate)
        {
            return;
        }

        var certificate = await context.GetHttpContext().Connection.GetClientCertificateAsync().ConfigureAwait(false);
        if (certificate is null)
        {
            Fail(StatusCode.Unauthenticated, "A client certificate is required.");
        }

        var name = ClientCertificatePolicy.SubjectCommonName(certificate);
        if (!string.Equals(name, switchId, StringComparison.Ordinal))
        {
            LogForbidden(name ?? "(no single CN)", switchId);
            Fail(StatusCode.PermissionDenied, $"The client certificate does not name switch '{switchId}'.");
        }
    }

    /// <summary>
    /// One message from the switch. A report that cannot be taken (malformed, another switch's recovery, or a
    /// failure of ours) is refused on its own with <see cref="ReportRefused"/> and counted; the stream goes on.
    /// A report not recorded because Redis is away is neither confirmed nor refused: the switch resends it.
    /// </summary>
    private async Task HandleAsync(SwitchConnection connection, SwitchMessage message)
    {
        try
        {
            switch (message.MessageCase)
            {
                case SwitchMessage.MessageOneofCase.Ack:
                    await AcknowledgeAsync(connection, message.Ack).ConfigureAwait(false);
                    break;
                case SwitchMessage.MessageOneofCase.Progress:
                    await ProgressAsync(connection, message.Progress).ConfigureAwait(false);
                    break;
                case SwitchMessage.MessageOneofCase.Outcome:
                    await OutcomeAsync(connection, message.Outcome).ConfigureAwait(false);
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
            LogReportNotRecorded(message.MessageCase.ToString(), TransientErrors.Describe(e));
            Fail(StatusCode.Unavailable, "The report could not be recorded (Redis unavailable); reconnect and resend unconfirmed reports.");
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
        var callId = CallIdOf(ack.RecoveryId);
        var now = time.GetUtcNow();
        var detail = Truncated(ack.Detail);
        var transition = ack.Accepted
            ? await store.AcceptAsync(callId, connection.SwitchId, ack.Attempt, now).ConfigureAwait(false)
            : await store.RejectAsync(callId, connection.SwitchId, ack.Attempt, $"{ack.RejectReason}: {detail}", now).ConfigureAwait(false);
        using var span = RecoveryTracing.StartStep("acknowledge", transition.Recovery?.TraceParent ?? string.Empty, ack.RecoveryId, callId, connection.SwitchId);
        span?.SetTag(RecoveryTracing.Attempt, (int)ack.Attempt).SetTag("callrecovery.acknowledgement", transition.Verdict.ToString());
        if (transition.Verdict == RecoveryVerdict.Forbidden)
        {
            throw Forbidden(connection, ack.RecoveryId);
        }

        if (!ack.Accepted)
        {
            connection.Rejected(callId, now);
            span?.SetTag("callrecovery.reject_reason", ack.RejectReason.ToString());
            LogRejected(ack.RecoveryId, connection.SwitchId, ack.RejectReason, detail);
        }

        // This connection's window place goes whatever the verdict: the switch answered for it.
        connection.Release(callId);
        await scheduler.CarryOutAsync(transition, connection, acceptedAttempt: ack.Accepted ? ack.Attempt : 0).ConfigureAwait(false);
    }

    private async Task ProgressAsync(SwitchConnection connection, ProgressReport report)
    {
        var callId = CallIdOf(report.RecoveryId);
        if (report.Stage == Stage.Unspecified || !System.Enum.IsDefined(report.Stage))
        {
            throw new RefusedReport(RefusalReason.Malformed, "stage is missing or unknown.");
        }

        var at = TimeOf(report.At);
        var transition = await store.ProgressAsync(callId, connection.SwitchId, report.Stage.ToString(), at, time.GetUtcNow(), report.CallbackAttempt).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Forbidden)
        {
            throw Forbidden(connection, report.RecoveryId);
        }

        await scheduler.CarryOutAsync(transition, connection, report.Stage, at).ConfigureAwait(false);
        connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = report.RecoveryId, Stage = report.Stage, CallbackAttempt = report.CallbackAttempt } });
    }

    private async Task OutcomeAsync(SwitchConnection connection, OutcomeReport report)
    {
        var callId = CallIdOf(report.RecoveryId);
        if (report.Outcome is Outcome.Unspecified or Outcome.Cancelled or Outcome.OutageNotRecovered or Outcome.CustomerUnreachable or Outcome.QuietHours || !System.Enum.IsDefined(report.Outcome))
        {
            throw new RefusedReport(RefusalReason.Malformed, "outcome is missing, unknown, or one only the service may set (cancelled, outage not recovered, customer unreachable, quiet hours).");
        }

        if (report.TalkTime is { } talk && !ProtobufValues.IsValidNonNegative(talk))
        {
            throw new RefusedReport(RefusalReason.Malformed, "talk_time is negative or outside the range of a protobuf Duration.");
        }

        if (report.FailureCause.Length > MaxReportText || report.ReconnectCallId.Length > MaxReportText)
        {
            throw new RefusedReport(RefusalReason.Malformed, $"failure_cause and reconnect_call_id may hold at most {MaxReportText} characters.");
        }

        var transition = await store.OutcomeAsync(
            callId,
            connection.SwitchId,
            report.Outcome.ToString(),
            TimeOf(report.At),
            report.TalkTime?.ToTimeSpan() ?? TimeSpan.Zero,
            report.FailureCause,
            report.SurveyScore is >= 1 and <= 5 ? report.SurveyScore : 0,
            report.ReconnectCallId,
            time.GetUtcNow(),
            report.CallbackAttempt,
            timing.IsRetryable(report.Outcome, report.FailureCause) ? timing.RetryGap : TimeSpan.Zero,
            timing.MaxCallbackAttempts).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Forbidden)
        {
            throw Forbidden(connection, report.RecoveryId);
        }

        await scheduler.CarryOutAsync(transition, connection).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Applied)
        {
            LogOutcome(report.RecoveryId, report.Outcome, connection.SwitchId);
        }

        connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = report.RecoveryId, Outcome = report.Outcome, CallbackAttempt = report.CallbackAttempt } });
    }

    private async Task RequeueUnacknowledgedAsync(SwitchConnection connection)
    {
        var unacknowledged = connection.Unacknowledged;
        if (unacknowledged.Count == 0)
        {
            return;
        }

        try
        {
            await store.RequeueAsync(connection.SwitchId, unacknowledged, time.GetUtcNow()).ConfigureAwait(false);
            LogRequeued(unacknowledged.Count, connection.SwitchId);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // The acknowledgement timeout sends them again once Redis is back.
            LogReportNotRecorded("requeue", e.Message);
        }
    }

    private static async Task WriteAllAsync(SwitchConnection connection, IServerStreamWriter<ServiceMessage> responseStream, CancellationToken cancellationToken)
    {
        try
        {
            // Messages already waiting go out in one flush (one write to the socket), not one flush each.
            var buffered = new WriteOptions(WriteFlags.BufferHint);
            var outbox = connection.Outbox;
            while (await outbox.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (outbox.TryRead(out var message))
                {
                    responseStream.WriteOptions = outbox.Count > 0 ? buffered : null;
                    await responseStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The stream ended; unsent commands are still unacknowledged and go round again.
        }
    }

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

    /// <summary>One report refused; the stream stays open.</summary>
    private sealed class RefusedReport(RefusalReason reason, string message) : Exception(message)
    {
        public RefusalReason Reason { get; } = reason;
    }

    [DoesNotReturn]
    private static void Fail(StatusCode code, string detail) => throw new RpcException(new Status(code, detail));

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Switch {SwitchId} instance {InstanceId} connected ({ConnectionId}, window {Window})")]
    private partial void LogConnected(string switchId, string instanceId, string connectionId, int window);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "Switch {SwitchId} instance {InstanceId} disconnected ({ConnectionId})")]
    private partial void LogDisconnected(string switchId, string instanceId, string connectionId);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "Switch {SwitchId} may not act on {Subject}")]
    private partial void LogForbidden(string switchId, string subject);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Information, Message = "Recovery {RecoveryId} rejected by switch {SwitchId}: {Reason} {Detail}")]
    private partial void LogRejected(string recoveryId, string switchId, RejectReason reason, string detail);

    [LoggerMessage(EventId = 3205, Level = LogLevel.Information, Message = "Recovery {RecoveryId} outcome {Outcome} from switch {SwitchId}")]
    private partial void LogOutcome(string recoveryId, Outcome outcome, string switchId);

    [LoggerMessage(EventId = 3206, Level = LogLevel.Information, Message = "{Count} unacknowledged command(s) of switch {SwitchId} go round again")]
    private partial void LogRequeued(int count, string switchId);

    [LoggerMessage(EventId = 3208, Level = LogLevel.Warning, Message = "{Report} from switch {SwitchId} refused: {Reason}: {Detail}")]
    private partial void LogReportRefused(string report, string switchId, RefusalReason reason, string detail);

    [LoggerMessage(EventId = 3209, Level = LogLevel.Error, Message = "{Report} from switch {SwitchId} failed; refused")]
    private partial void LogReportFailed(Exception exception, string report, string switchId);

    [LoggerMessage(EventId = 3207, Level = LogLevel.Warning, Message = "{Report} not recorded, Redis or Kafka unavailable: {Reason}")]
    private partial void LogReportNotRecorded(string report, string reason);
}
