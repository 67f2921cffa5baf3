using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;
using CallRecovery.Contracts.V1;
using CallRecovery.Observability;
using CallRecovery.Outcomes;
using CallRecovery.Store;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace CallRecovery.Dispatch;

/// <summary>
/// The switching platform's stream: Hello, then commands out and acknowledgements, progress and outcomes in.
/// Any replica serves any switch; everything a report changes lives in Redis.
/// </summary>
public sealed partial class SwitchingService(
    SwitchConnections connections,
    DispatchStore store,
    OutcomePublisher outcomes,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    TimeProvider time,
    ILogger<SwitchingService> logger) : Switching.SwitchingBase
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    private readonly SwitchingOptions _options = options.Value;

    public override async Task Connect(IAsyncStreamReader<SwitchMessage> requestStream, IServerStreamWriter<ServiceMessage> responseStream, ServerCallContext context)
    {
        var hello = await ReadHelloAsync(requestStream, context).ConfigureAwait(false);
        await AuthorizeAsync(hello.SwitchId, context).ConfigureAwait(false);

        var window = hello.MaxUnacknowledged == 0 ? _options.MaxUnacknowledgedPerConnection : (int)Math.Min(hello.MaxUnacknowledged, (uint)_options.MaxUnacknowledgedPerConnection);
        var connection = new SwitchConnection(hello.SwitchId, hello.InstanceId, window);
        var writer = WriteAllAsync(connection, responseStream, context.CancellationToken);
        connection.TrySend(new ServiceMessage
        {
            Welcome = new Welcome { ConnectionId = connection.Id, MaxUnacknowledged = (uint)window, AcknowledgementTimeout = Duration.FromTimeSpan(_options.AcknowledgementTimeout) },
        });
        connections.Add(connection);
        LogConnected(hello.SwitchId, hello.InstanceId, connection.Id, window);
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                await HandleAsync(connection, requestStream.Current).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && context.CancellationToken.IsCancellationRequested)
        {
            // The switch went away; its unacknowledged commands go round again below.
        }
        finally
        {
            connections.Remove(connection);
            connection.Complete();
            await RequeueUnacknowledgedAsync(connection).ConfigureAwait(false);
            await writer.ConfigureAwait(false);
            LogDisconnected(hello.SwitchId, hello.InstanceId, connection.Id);
        }
    }

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

        var name = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        if (!string.Equals(name, switchId, StringComparison.Ordinal))
        {
            LogForbidden(name, switchId);
            Fail(StatusCode.PermissionDenied, $"The client certificate does not name switch '{switchId}'.");
        }
    }

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
                default:
                    Fail(StatusCode.InvalidArgument, $"Unexpected {message.MessageCase} after the Hello.");
                    break;
            }
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // Not confirmed: the switch resends the report; an unrecorded acknowledgement times out and the command comes again.
            LogReportNotRecorded(message.MessageCase.ToString(), e.Message);
        }
    }

    private async Task AcknowledgeAsync(SwitchConnection connection, CommandAck ack)
    {
        var callId = CallIdOf(ack.RecoveryId);
        var (verdict, traceParent) = await store.AcknowledgeAsync(callId, connection.SwitchId, ack.Attempt, ack.Accepted, $"{ack.RejectReason}: {ack.Detail}", time.GetUtcNow()).ConfigureAwait(false);
        using var span = RecoveryTracing.StartStep("acknowledge", traceParent, ack.RecoveryId, callId, connection.SwitchId);
        span?.SetTag(RecoveryTracing.Attempt, (int)ack.Attempt).SetTag("callrecovery.acknowledgement", verdict);
        if (!ack.Accepted)
        {
            span?.SetTag("callrecovery.reject_reason", ack.RejectReason.ToString());
        }

        connection.Release(callId);
        switch (verdict)
        {
            case "acknowledged" or "duplicate":
                await store.SettleEntriesAsync(connection.SwitchId, callId).ConfigureAwait(false);
                break;
            case "rejected":
                LogRejected(ack.RecoveryId, connection.SwitchId, ack.RejectReason, ack.Detail);
                await store.RequeueAsync(connection.SwitchId, [callId], time.GetUtcNow() + _options.RejectionBackoff).ConfigureAwait(false);
                break;
            case "void":
                connection.TrySend(new ServiceMessage { Cancel = new CancelCommand { RecoveryId = ack.RecoveryId, Reason = "the recovery no longer needs a callback" } });
                await store.SettleEntriesAsync(connection.SwitchId, callId).ConfigureAwait(false);
                break;
            case "forbidden":
                Forbidden(connection, ack.RecoveryId);
                break;
            default:
                // "stale" (a newer attempt is out) or "unknown": nothing to change.
                break;
        }
    }

    private async Task ProgressAsync(SwitchConnection connection, ProgressReport report)
    {
        var callId = CallIdOf(report.RecoveryId);
        var at = report.At?.ToDateTimeOffset() ?? time.GetUtcNow();
        var change = await store.ReportProgressAsync(callId, connection.SwitchId, report.Stage.ToString(), at).ConfigureAwait(false);
        if (change.Verdict == "forbidden")
        {
            Forbidden(connection, report.RecoveryId);
        }

        if (change.Recovery is { } recovery)
        {
            using var span = RecoveryTracing.StartStep("progress", recovery);
            span?.SetTag(RecoveryTracing.Stage, report.Stage.ToString());

            // Published again for a repeated report too: the first publication may not have happened (at least once).
            await outcomes.PublishStageAsync(recovery, report.Stage, at).ConfigureAwait(false);
            if (connection.Release(callId))
            {
                await store.SettleEntriesAsync(connection.SwitchId, callId).ConfigureAwait(false);
            }
        }

        connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = report.RecoveryId, Stage = report.Stage } });
    }

    private async Task OutcomeAsync(SwitchConnection connection, OutcomeReport report)
    {
        if (report.Outcome is Outcome.Unspecified or Outcome.Cancelled)
        {
            Fail(StatusCode.InvalidArgument, $"Outcome {report.Outcome} cannot be reported by a switch.");
        }

        var callId = CallIdOf(report.RecoveryId);
        var change = await store.RecordOutcomeAsync(
            callId,
            connection.SwitchId,
            report.Outcome.ToString(),
            report.At?.ToDateTimeOffset() ?? time.GetUtcNow(),
            report.TalkTime?.ToTimeSpan() ?? TimeSpan.Zero,
            report.FailureCause,
            report.SurveyScore is >= 1 and <= 5 ? report.SurveyScore : 0,
            report.ReconnectCallId).ConfigureAwait(false);
        if (change.Verdict == "forbidden")
        {
            Forbidden(connection, report.RecoveryId);
        }

        if (change.Recovery is { } recovery)
        {
            using var span = RecoveryTracing.StartStep("outcome", recovery);
            span?.SetTag(RecoveryTracing.Outcome, recovery.Outcome);
            await outcomes.PublishOutcomeAsync(recovery, Enum.Parse<Outcome>(recovery.Outcome)).ConfigureAwait(false);
            connection.Release(callId);
            await store.SettleEntriesAsync(connection.SwitchId, callId).ConfigureAwait(false);
            if (change.Verdict == "new")
            {
                telemetry.RecoveryEnded(recovery.Outcome, connection.SwitchId);
                if (recovery.StageTimes.TryGetValue(nameof(Stage.Bridged), out var bridged))
                {
                    telemetry.Reconnected(bridged - recovery.DropTime);
                }

                LogOutcome(recovery.RecoveryId, recovery.Outcome, connection.SwitchId);
            }
        }

        connection.TrySend(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = report.RecoveryId, Outcome = report.Outcome } });
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
            await foreach (var message in connection.Outbox.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The stream ended; unsent commands are still unacknowledged and go round again.
        }
    }

    private static string CallIdOf(string recoveryId)
    {
        if (!RecoveryIds.TryGetCallId(recoveryId, out var callId))
        {
            Fail(StatusCode.InvalidArgument, $"'{recoveryId}' is not a recovery id.");
        }

        return callId;
    }

    [DoesNotReturn]
    private void Forbidden(SwitchConnection connection, string recoveryId)
    {
        LogForbidden(connection.SwitchId, recoveryId);
        Fail(StatusCode.PermissionDenied, $"Recovery {recoveryId} does not belong to switch '{connection.SwitchId}'.");
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
    private partial void LogOutcome(string recoveryId, string outcome, string switchId);

    [LoggerMessage(EventId = 3206, Level = LogLevel.Information, Message = "{Count} unacknowledged command(s) of switch {SwitchId} go round again")]
    private partial void LogRequeued(int count, string switchId);

    [LoggerMessage(EventId = 3207, Level = LogLevel.Warning, Message = "{Report} not recorded, Redis or Kafka unavailable: {Reason}")]
    private partial void LogReportNotRecorded(string report, string reason);
}
