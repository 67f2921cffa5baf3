using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;

namespace CallRecovery.SwitchEmulator;

/// <summary>
/// Answers like a switch instance, placing no real calls: connects, says Hello, accepts (or rejects) each command,
/// and "places" a callback only once the service confirms its acceptance (the protocol's go signal), once per
/// (recovery id, callback attempt) from its own record however often it is delivered; reports progress and an outcome
/// drawn from the configured mix, keeps every acceptance and report until the service confirms it, and resends them
/// after reconnecting. It shares nothing with the other instances of its pool: a callback two instances place shows
/// as two placements.
/// </summary>
public sealed class EmulatedSwitch : IAsyncDisposable
{
    private static readonly Stage[] Stages = [Stage.CustomerRinging, Stage.CustomerAnswered, Stage.OfferAccepted, Stage.OtherPartyRinging, Stage.Bridged];

    /// <summary>
    /// The switch's own spans in the recovery's trace (placing the call, then each stage), continuing the command's
    /// traceparent; created only when something listens (the demo exports them to its dashboard).
    /// </summary>
    public static ActivitySource ActivitySource { get; } = new("CallRecovery.SwitchEmulator");

    private readonly SwitchEmulatorOptions _options;
    private readonly GrpcChannel _channel;
    private readonly Random _random;
    private readonly Lock _randomLock = new();
    private readonly ConcurrentDictionary<string, CallbackCommand> _placed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CallbackCommand>? _poolView;
    // Deliveries accepted, each waiting for the service's confirmation before acting (by recovery id and attempt).
    private readonly ConcurrentDictionary<(string RecoveryId, uint Attempt), CallbackCommand> _awaiting = new();
    private readonly ConcurrentDictionary<string, uint> _cancelled = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SwitchMessage> _unconfirmed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Outcome> _outcomes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<CallbackCommand> _received = new();
    private readonly ConcurrentQueue<TimeSpan> _dropToCommand = new();
    private readonly ConcurrentQueue<string> _executed = new();
    private readonly ConcurrentQueue<ReportRefused> _refusals = new();
    private readonly ConcurrentQueue<CancelCommand> _cancels = new();
    private readonly ConcurrentQueue<(string RecoveryId, uint CallbackAttempt, DateTimeOffset At)> _placements = new();
    private volatile Channel<SwitchMessage>? _session;
    private volatile bool _welcomed;
    private CancellationTokenSource? _sessionStop;
    private int _connections;
    private volatile bool _readingPaused;
    private int _acknowledgementsToLose;
    private int _rejected;
    private int _duplicates;

    public EmulatedSwitch(SwitchEmulatorOptions options)
    {
        _options = options;
        _poolView = options.SharedPlacements;
        _random = new Random(options.Seed);
        _channel = GrpcChannel.ForAddress(options.ServiceAddress, new GrpcChannelOptions { HttpHandler = Handler(options) });
    }

    /// <summary>Every command received, retries included, in order.</summary>
    public IReadOnlyCollection<CallbackCommand> Received => _received;

    /// <summary>Recovery ids this instance placed a callback for (started executing), in order.</summary>
    public IReadOnlyCollection<string> Executed => _executed;

    /// <summary>Every callback placed: recovery, callback attempt, when (for pacing checks).</summary>
    public IReadOnlyCollection<(string RecoveryId, uint CallbackAttempt, DateTimeOffset At)> Placements => _placements;

    /// <summary>The recoveries this instance acted on, with the latest callback's command: each callback once, by its own record.</summary>
    public IReadOnlyDictionary<string, CallbackCommand> Placed => _placed;

    /// <summary>The outcome reported per recovery.</summary>
    public IReadOnlyDictionary<string, Outcome> Outcomes => _outcomes;

    /// <summary>Recoveries the service withdrew.</summary>
    public IReadOnlyCollection<string> Cancelled => [.. _cancelled.Keys];

    /// <summary>Every cancel received, in order.</summary>
    public IReadOnlyCollection<CancelCommand> CancelsReceived => _cancels;

    /// <summary>Reports not yet confirmed by the service.</summary>
    public int Unconfirmed => _unconfirmed.Count;

    /// <summary>Acknowledgements and reports the service refused, with its reasons.</summary>
    public IReadOnlyCollection<ReportRefused> Refusals => _refusals;

    /// <summary>Time from the drop to the first delivery of each command.</summary>
    public IReadOnlyCollection<TimeSpan> DropToCommand => _dropToCommand;

    public int Connections => _connections;

    /// <summary>The admission rate the service said it holds the pool to, in its latest Welcome.</summary>
    public uint WelcomeRate { get; private set; }

    public int Rejected => _rejected;

    /// <summary>Commands received again for a recovery already placed (acknowledged again, not acted on).</summary>
    public int Duplicates => _duplicates;

    public bool IsConnected => _welcomed;

    public SwitchEmulatorOptions Options => _options;

    /// <summary>Connects and reconnects until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await RunSessionAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when ((e.StatusCode is StatusCode.Unavailable or StatusCode.Cancelled || (e.StatusCode is StatusCode.Internal or StatusCode.Unknown && !_options.FailOnServerError)) && !cancellationToken.IsCancellationRequested)
            {
                // The service went away or the stream broke: reconnect below.
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopped while a new session was starting.
                return;
            }

            try
            {
                await Task.Delay(_options.ReconnectDelay, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Stops (or resumes) reading the service's messages on the live stream, while the connection itself stays healthy.</summary>
    public void PauseReading(bool paused) => _readingPaused = paused;

    /// <summary>The next <paramref name="count"/> acceptances are never sent (lost on the way): nothing is placed until the service sends the command again.</summary>
    public void LoseAcknowledgements(int count) => Interlocked.Exchange(ref _acknowledgementsToLose, count);

    /// <summary>Drops the current stream abruptly, as a network cut would; <see cref="RunAsync"/> reconnects.</summary>
    public void Disconnect()
    {
        try
        {
            _sessionStop?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session just ended by itself.
        }
    }

    public ValueTask DisposeAsync()
    {
        Disconnect();
        _channel.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task RunSessionAsync(CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sessionStop = stop;
        var client = new Switching.SwitchingClient(_channel);
        using var call = client.Connect(cancellationToken: stop.Token);
        var outbox = Channel.CreateUnbounded<SwitchMessage>(new UnboundedChannelOptions { SingleReader = true });
        await outbox.Writer.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = _options.SwitchId, InstanceId = _options.InstanceId, MaxUnacknowledged = _options.MaxUnacknowledged, MaxCommandsPerSecond = _options.MaxCommandsPerSecond } }, stop.Token).ConfigureAwait(false);
        // Reports made from now on go on this stream (after the Hello); those not confirmed yet go again first. (A report
        // made while the old stream was ending and before this point waits in the list below, not for the next reconnect.)
        _session = outbox;
        foreach (var report in _unconfirmed.Values)
        {
            await outbox.Writer.WriteAsync(report, stop.Token).ConfigureAwait(false);
        }

        var writer = WriteAllAsync(call.RequestStream, outbox.Reader, stop.Token);
        try
        {
            await foreach (var message in call.ResponseStream.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                while (_readingPaused && !stop.IsCancellationRequested)
                {
                    // Stopped reading: HTTP/2 flow control soon holds the service's writes; pings are still answered.
                    await Task.Delay(50, stop.Token).ConfigureAwait(false);
                }

                switch (message.MessageCase)
                {
                    case ServiceMessage.MessageOneofCase.Welcome:
                        WelcomeRate = message.Welcome.MaxCommandsPerSecond;
                        _welcomed = true;
                        Interlocked.Increment(ref _connections);
                        break;
                    case ServiceMessage.MessageOneofCase.Command:
                        OnCommand(message.Command, outbox.Writer);
                        break;
                    case ServiceMessage.MessageOneofCase.Cancel:
                        OnCancel(message.Cancel);
                        break;
                    case ServiceMessage.MessageOneofCase.ReportReceived when message.ReportReceived.AcceptedAttempt > 0:
                        OnAcceptanceConfirmed(message.ReportReceived);
                        break;
                    case ServiceMessage.MessageOneofCase.ReportReceived:
                        _unconfirmed.TryRemove(ReportKey(message.ReportReceived.RecoveryId, message.ReportReceived.CallbackAttempt, message.ReportReceived.Stage, message.ReportReceived.Outcome), out _);
                        break;
                    case ServiceMessage.MessageOneofCase.ReportRefused:
                        // Resending a refused report unchanged would be refused again: drop it and count it.
                        _refusals.Enqueue(message.ReportRefused);
                        if (_options.FailOnServerError && message.ReportRefused.Reason == RefusalReason.Internal)
                        {
                            throw new InvalidOperationException($"The service failed on a report of {message.ReportRefused.RecoveryId}: {message.ReportRefused.Detail}");
                        }

                        _unconfirmed.TryRemove(ReportKey(message.ReportRefused.RecoveryId, message.ReportRefused.CallbackAttempt, message.ReportRefused.Stage, message.ReportRefused.Outcome), out _);
                        break;
                }
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
        {
            // Stopping, or Disconnect() was called.
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping or disconnecting.
        }
        finally
        {
            _session = null;
            _welcomed = false;
            _sessionStop = null;
            outbox.Writer.TryComplete();
            await writer.ConfigureAwait(false);
            stop.Dispose();
        }
    }

    private void OnCommand(CallbackCommand command, ChannelWriter<SwitchMessage> outbox)
    {
        _received.Enqueue(command);
        if ((command.Attempt == 1 || !_placed.ContainsKey(command.RecoveryId)) && command.CallbackAttempt <= 1)
        {
            _dropToCommand.Enqueue(_options.Clock.GetUtcNow() - command.DropTime.ToDateTimeOffset());
        }

        if (!_options.Acknowledge)
        {
            return;
        }

        if (_placed.TryGetValue(command.RecoveryId, out var earlier) && CallbackOf(earlier) >= CallbackOf(command))
        {
            // Same callback again (our acknowledgement or its confirmation was lost or late): accepted again, acted on once.
            Interlocked.Increment(ref _duplicates);
            outbox.TryWrite(Ack(command, accepted: true));
            return;
        }

        if (command.Deadline.ToDateTimeOffset() < _options.Clock.GetUtcNow())
        {
            outbox.TryWrite(Ack(command, accepted: false, RejectReason.DeadlinePassed));
            return;
        }

        if (Draw() < _options.RejectRatio)
        {
            Interlocked.Increment(ref _rejected);
            var rejection = Ack(command, accepted: false, RejectReason.Overloaded);
            rejection.Ack.Detail = _options.RejectDetail;
            outbox.TryWrite(rejection);
            return;
        }

        // Accepted: the callback starts when the service confirms this acceptance. Kept until then, and resent after
        // reconnecting; a lost one is simply not sent (the service sends the command again, here or elsewhere).
        _awaiting[(command.RecoveryId, command.Attempt)] = command;
        var ack = Ack(command, accepted: true);
        _unconfirmed[AckKey(command.RecoveryId, command.Attempt)] = ack;
        if (Interlocked.Decrement(ref _acknowledgementsToLose) < 0)
        {
            Interlocked.Exchange(ref _acknowledgementsToLose, 0);
            outbox.TryWrite(ack);
        }
    }

    /// <summary>The service recorded our acceptance: the callback is ours, and is placed now (once, by our own record).</summary>
    private void OnAcceptanceConfirmed(ReportReceived confirmed)
    {
        foreach (var key in _unconfirmed.Keys.Where(k => k.StartsWith($"ack/{confirmed.RecoveryId}/", StringComparison.Ordinal)))
        {
            _unconfirmed.TryRemove(key, out _);
        }

        // The confirmed delivery is the one acted on (its attempt is what a later cancel of another delivery is told from).
        var accepted = _awaiting.Where(a => a.Key.RecoveryId == confirmed.RecoveryId).Select(a => a.Value).OrderByDescending(c => c.Attempt == confirmed.AcceptedAttempt).FirstOrDefault();
        foreach (var key in _awaiting.Keys.Where(k => k.RecoveryId == confirmed.RecoveryId))
        {
            _awaiting.TryRemove(key, out _);
        }

        if (accepted is null)
        {
            // Confirmed again (a delivery accepted again after a lost confirmation): placed already.
            return;
        }

        var command = accepted.Clone();
        command.Attempt = confirmed.AcceptedAttempt;
        if (!TryPlace(command))
        {
            return;
        }

        _executed.Enqueue(command.RecoveryId);
        _placements.Enqueue((command.RecoveryId, CallbackOf(command), _options.Clock.GetUtcNow()));
        _poolView?.AddOrUpdate(command.RecoveryId, command, (_, before) => CallbackOf(before) >= CallbackOf(command) ? before : command);
        _ = PlaceCallbackAsync(command);
    }

    /// <summary>
    /// A cancel withdraws a callback (and any earlier one of the recovery; callback 0: every one). One naming a delivery
    /// (attempt above 0) withdraws only that delivery: the callback stops only if that delivery is the one this instance
    /// acted on. Another delivery accepted here, placed or still awaiting its confirmation (the cancel may come first:
    /// cancels reach the switch by another path), goes on.
    /// </summary>
    private void OnCancel(CancelCommand cancel)
    {
        _cancels.Enqueue(cancel);
        var callback = cancel.CallbackAttempt == 0 ? uint.MaxValue : cancel.CallbackAttempt;
        foreach (var (key, waiting) in _awaiting.Where(a => a.Key.RecoveryId == cancel.RecoveryId && CallbackOf(a.Value) <= callback && (cancel.Attempt == 0 || cancel.Attempt == a.Key.Attempt)))
        {
            // Withdrawn before it was ours (another delivery accepted first, or the recovery ended): never placed.
            _awaiting.TryRemove(key, out _);
            _unconfirmed.TryRemove(AckKey(cancel.RecoveryId, waiting.Attempt), out _);
        }

        if (cancel.Attempt > 0 && !(_placed.TryGetValue(cancel.RecoveryId, out var acted) && CallbackOf(acted) == callback && acted.Attempt == cancel.Attempt))
        {
            return;
        }

        _cancelled.AddOrUpdate(cancel.RecoveryId, callback, (_, before) => Math.Max(before, callback));
    }

    /// <summary>Acts on this callback of the recovery unless this instance acted on it (or a later one) already.</summary>
    private bool TryPlace(CallbackCommand command)
    {
        while (true)
        {
            if (!_placed.TryGetValue(command.RecoveryId, out var existing))
            {
                if (_placed.TryAdd(command.RecoveryId, command))
                {
                    return true;
                }
            }
            else if (CallbackOf(existing) >= CallbackOf(command))
            {
                return false;
            }
            else if (_placed.TryUpdate(command.RecoveryId, command, existing))
            {
                return true;
            }
        }
    }

    private static uint CallbackOf(CallbackCommand command) => Math.Max(1, command.CallbackAttempt);

    /// <summary>The emulated callback: stages one after another, then the outcome.</summary>
    private async Task PlaceCallbackAsync(CallbackCommand command)
    {
        var callback = CallbackOf(command);
        var outcome = callback == 1 && _options.FirstCallbackOutcome is { } first ? first : DrawOutcome();
        var stages = outcome switch
        {
            Outcome.Reconnected => Stages,
            Outcome.OtherPartyUnreachable => Stages[..4],
            Outcome.CustomerDeclined => Stages[..2],
            Outcome.NoAnswer => Stages[..1],
            _ => [],
        };
        ActivityContext.TryParse(command.Traceparent, command.Tracestate, out var parent);
        using var placing = ActivitySource.StartActivity("switch place callback", ActivityKind.Server, parent);
        placing?.SetTag("rpc.system", "grpc").SetTag("rpc.service", "callrecovery.v1.Switching").SetTag("callrecovery.recovery_id", command.RecoveryId)
            .SetTag("callrecovery.callback_attempt", callback).SetTag("callrecovery.switch.instance", _options.InstanceId);
        foreach (var stage in stages)
        {
            using (var step = ActivitySource.StartActivity("switch " + StageName(stage), ActivityKind.Internal))
            {
                step?.SetTag("callrecovery.recovery_id", command.RecoveryId);
                await Task.Delay(_options.StageDelay).ConfigureAwait(false);
            }

            if (_cancelled.TryGetValue(command.RecoveryId, out var withdrawn) && withdrawn >= callback)
            {
                placing?.SetTag("callrecovery.outcome", "withdrawn");
                return;
            }

            Report(new SwitchMessage { Progress = new ProgressReport { RecoveryId = command.RecoveryId, Stage = stage, At = Timestamp.FromDateTimeOffset(_options.Clock.GetUtcNow()), CallbackAttempt = callback } },
                ReportKey(command.RecoveryId, callback, stage, Outcome.Unspecified));
        }

        await Task.Delay(_options.StageDelay).ConfigureAwait(false);
        var report = new OutcomeReport { RecoveryId = command.RecoveryId, Outcome = outcome, At = Timestamp.FromDateTimeOffset(_options.Clock.GetUtcNow()), CallbackAttempt = callback };
        if (outcome == Outcome.Reconnected)
        {
            report.TalkTime = Duration.FromTimeSpan(TimeSpan.FromSeconds(30 + (Draw() * 240)));
            report.SurveyScore = (uint)(3 + (int)(Draw() * 3));
            report.ReconnectCallId = "reconnect-" + command.RecoveryId[..12];
        }
        else if (outcome == Outcome.Failed)
        {
            report.FailureCause = _options.FailureCause;
        }

        _outcomes[command.RecoveryId] = outcome;
        placing?.SetTag("callrecovery.outcome", outcome.ToString());
        Report(new SwitchMessage { Outcome = report }, ReportKey(command.RecoveryId, callback, Stage.Unspecified, outcome));
    }

    /// <summary>A stage as its span names it: "customer answered", "reconnect bridged".</summary>
    private static string StageName(Stage stage) => stage switch
    {
        Stage.CustomerRinging => "customer ringing",
        Stage.CustomerAnswered => "customer answered",
        Stage.OfferAccepted => "offer accepted",
        Stage.OtherPartyRinging => "other party ringing",
        Stage.Bridged => "reconnect bridged",
        _ => stage.ToString(),
    };

    /// <summary>Kept until confirmed; sent now if connected, else on the next connection.</summary>
    private void Report(SwitchMessage message, string key)
    {
        _unconfirmed[key] = message;
        _session?.Writer.TryWrite(message);
    }

    private static SwitchMessage Ack(CallbackCommand command, bool accepted, RejectReason reason = RejectReason.Unspecified) =>
        new() { Ack = new CommandAck { RecoveryId = command.RecoveryId, Attempt = command.Attempt, Accepted = accepted, RejectReason = reason } };

    private static string ReportKey(string recoveryId, uint callback, Stage stage, Outcome outcome) => $"{recoveryId}/{Math.Max(1, callback)}/{stage}/{outcome}";

    private static string AckKey(string recoveryId, uint attempt) => $"ack/{recoveryId}/{attempt}";

    private static async Task WriteAllAsync(IClientStreamWriter<SwitchMessage> requests, ChannelReader<SwitchMessage> outbox, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in outbox.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await requests.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }

            await requests.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException or IOException)
        {
            // The stream ended; unconfirmed reports are resent on the next connection.
        }
    }

    private double Draw()
    {
        lock (_randomLock)
        {
            return _random.NextDouble();
        }
    }

    private Outcome DrawOutcome()
    {
        var total = _options.OutcomeMix.Values.Sum();
        var pick = Draw() * total;
        foreach (var (outcome, weight) in _options.OutcomeMix)
        {
            pick -= weight;
            if (pick <= 0)
            {
                return outcome;
            }
        }

        return Outcome.Reconnected;
    }

    private static SocketsHttpHandler Handler(SwitchEmulatorOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
        };
        PrivateCertificateAuthority.ConfigureClient(handler.SslOptions, options.ClientCertificatePath, options.ClientKeyPath, options.ServerCertificateAuthorityPath);
        return handler;
    }
}
