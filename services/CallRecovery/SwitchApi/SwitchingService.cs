using CallRecovery.Security;
using System.Diagnostics.CodeAnalysis;
using CallRecovery.Contracts.V1;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using Grpc.Core;
using Microsoft.Extensions.Options;
using CallRecovery.Delivery;
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
    SwitchReports reports,
    SwitchCancels cancels,
    SwitchQueues queues,
    RecoveryMoves moves,
    IOptions<SwitchingOptions> options,
    IHostApplicationLifetime lifetime,
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
        // Only an instance whose certificate names the switch (or any, on a port only this host reaches) may lower the
        // pool's rate: on a port served without certificates to the network, it is held to the configured rate.
        var admissionRate = _options.AdmissionRateOf(hello.SwitchId, _options.AllowInsecureOnNetwork ? 0 : hello.MaxCommandsPerSecond);
        var heldTo = await DeclareRateAsync(hello.SwitchId, admissionRate).ConfigureAwait(false);
        using var connection = new SwitchConnection(hello.SwitchId, hello.InstanceId, window, admissionRate, time);
        var writer = WriteAllAsync(connection, responseStream, context.CancellationToken);
        connection.TrySend(new ServiceMessage
        {
            Welcome = new Welcome
            {
                ConnectionId = connection.Id,
                MaxUnacknowledged = (uint)window,
                AcknowledgementTimeout = Duration.FromTimeSpan(_options.AcknowledgementTimeout),
                // The rate the pool is held to (the lowest any of its instances declared lately), not only this instance's.
                MaxCommandsPerSecond = (uint)heldTo,
            },
        });
        connections.Add(connection);
        LogConnected(hello.SwitchId, hello.InstanceId, connection.Id, window);
        // Cancels posted while this instance had no stream here (a callback of its may be under way).
        await CatchUpOnCancelsAsync(connection).ConfigureAwait(false);
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
                await lanes.EnqueueAsync(SwitchReports.RecoveryIdOf(message), () => reports.HandleAsync(connection, message)).ConfigureAwait(false);
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

        // The instance's name is the switch's free text: logged, so cleaned of numbers and kept short.
        var instance = hello.InstanceId.Length > MaxInstanceIdLength ? hello.InstanceId[..MaxInstanceIdLength] : hello.InstanceId;
        hello.InstanceId = SwitchText.Clean(instance);
        return hello;
    }

    private const int MaxInstanceIdLength = 128;

    /// <summary>
    /// The certificate (already checked against the switch CA by Kestrel) must name the switch. Without client
    /// certificates (Switching:AllowInsecure) Kestrel asks no one for one, and there is nothing to check.
    /// </summary>
    private async Task AuthorizeAsync(string switchId, ServerCallContext context)
    {
        if (_options.AllowInsecure)
        {
            return;
        }

        var certificate = await context.GetHttpContext().Connection.GetClientCertificateAsync().ConfigureAwait(false);
        if (certificate is null)
        {
            LogNoCertificate(switchId);
            Fail(StatusCode.Unauthenticated, "A client certificate is required.");
        }

        var identities = ClientCertificatePolicy.Identities(certificate);
        if (!_options.CertificateServes(identities, switchId))
        {
            LogForbidden(identities.Count == 0 ? "(nobody)" : string.Join(' ', identities), switchId);
            Fail(StatusCode.PermissionDenied, $"The client certificate does not name switch '{switchId}'.");
        }
    }

    private async Task<int> DeclareRateAsync(string switchId, int declared)
    {
        try
        {
            return await queues.DeclareRateAsync(switchId, declared, time.GetUtcNow()).ConfigureAwait(false);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // Redis away: the instance is taken on its own rate for now (the dispatch, which needs Redis, renews it).
            LogReportNotRecorded("hello", TransientErrors.Describe(e));
            return declared;
        }
    }

    /// <summary>The stream broke: what it held unacknowledged goes round again at once, as when an acknowledgement times out.</summary>
    private async Task RequeueUnacknowledgedAsync(SwitchConnection connection)
    {
        var unacknowledged = connection.Unacknowledged;
        if (unacknowledged.Count == 0)
        {
            return;
        }

        try
        {
            await moves.ApplyAsync([.. unacknowledged.Select(callId => (RecoveryMove)new AckTimeoutMove(callId))]).ConfigureAwait(false);
            LogRequeued(unacknowledged.Count, connection.SwitchId);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // The acknowledgement timeout sends them again once Redis is back.
            LogReportNotRecorded("requeue", TransientErrors.Describe(e));
        }
    }

    private async Task CatchUpOnCancelsAsync(SwitchConnection connection)
    {
        try
        {
            await cancels.CatchUpAsync(connection).ConfigureAwait(false);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // Redis is away: the sweep reads the cancels again once it is back.
            LogReportNotRecorded("cancel catch-up", TransientErrors.Describe(e));
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

    [DoesNotReturn]
    private static void Fail(StatusCode code, string detail) => throw new RpcException(new Status(code, detail));

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Switch {SwitchId} instance {InstanceId} connected ({ConnectionId}, window {Window})")]
    private partial void LogConnected(string switchId, string instanceId, string connectionId, int window);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "Switch {SwitchId} instance {InstanceId} disconnected ({ConnectionId})")]
    private partial void LogDisconnected(string switchId, string instanceId, string connectionId);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "Switch {SwitchId} may not act on {Subject}")]
    private partial void LogForbidden(string switchId, string subject);

    [LoggerMessage(EventId = 3220, Level = LogLevel.Warning, Message = "A client without a certificate asked to serve switch {SwitchId}: refused (the switching port requires client certificates)")]
    private partial void LogNoCertificate(string switchId);

    [LoggerMessage(EventId = 3206, Level = LogLevel.Information, Message = "{Count} unacknowledged command(s) of switch {SwitchId} go round again")]
    private partial void LogRequeued(int count, string switchId);

    [LoggerMessage(EventId = 3207, Level = LogLevel.Warning, Message = "{Report} not recorded, Redis or Kafka unavailable: {Reason}")]
    private partial void LogReportNotRecorded(string report, string reason);
}
