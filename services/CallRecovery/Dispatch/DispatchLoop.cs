using System.Diagnostics;
using CallRecovery.Contracts.V1;
using CallRecovery.Observability;
using CallRecovery.Store;
using Microsoft.Extensions.Options;

namespace CallRecovery.Dispatch;

/// <summary>
/// Each replica's delivery work. Every poll it takes due commands of the switches connected to it (as many
/// as their windows allow) and sends them; every sweep it sends overdue acknowledgements round again and
/// expires commands past their deadline, for all switches, connected anywhere or not.
/// </summary>
public sealed partial class DispatchLoop(
    DispatchStore store,
    SwitchConnections connections,
    CallbackCommands commands,
    RecoveryScheduler scheduler,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    TimeProvider time,
    ILogger<DispatchLoop> logger) : BackgroundService
{
    private static readonly TimeSpan ExpiryLease = TimeSpan.FromSeconds(30);
    private readonly SwitchingOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastSweep = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(_options.PollInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await DispatchDueAsync().ConfigureAwait(false);
                if (time.GetUtcNow() - lastSweep >= _options.SweepInterval)
                {
                    lastSweep = time.GetUtcNow();
                    await SweepAsync().ConfigureAwait(false);
                }
            }
            catch (Exception e) when (TransientErrors.IsTransient(e))
            {
                // Redis or Kafka is away: commands stay in Redis; the next tick tries again.
                LogUnavailable(e.Message);
            }
        }
    }

    /// <summary>Sends due commands to this replica's connections, up to their free windows.</summary>
    public async Task DispatchDueAsync()
    {
        var now = time.GetUtcNow();
        await Task.WhenAll(connections.FreeWindows().Where(w => w.Free > 0).Select(async w =>
        {
            var claimed = await store.ClaimDueAsync(w.SwitchId, w.Free, now, now + _options.AcknowledgementTimeout).ConfigureAwait(false);
            var requeue = new List<string>();
            await Task.WhenAll(claimed.Select(async callId =>
            {
                // A new attempt supersedes any older one still counted against a window here.
                connections.Release(callId);
                var connection = connections.Reserve(w.SwitchId, callId, now);
                if (connection is null)
                {
                    lock (requeue)
                    {
                        requeue.Add(callId);
                    }

                    return;
                }

                var recovery = await store.DispatchAsync(callId, w.SwitchId, connection.Id, now).ConfigureAwait(false);
                if (recovery is null)
                {
                    connection.Release(callId);
                    await store.SettleEntriesAsync(w.SwitchId, callId).ConfigureAwait(false);
                    return;
                }

                using var span = RecoveryTracing.StartStep("dispatch", recovery, ActivityKind.Producer);
                var command = commands.From(recovery);
                command.Traceparent = span?.Id ?? recovery.TraceParent;
                command.Tracestate = span?.TraceStateString ?? string.Empty;
                if (!connection.TrySend(new ServiceMessage { Command = command }))
                {
                    connection.Release(callId);
                    lock (requeue)
                    {
                        requeue.Add(callId);
                    }

                    return;
                }

                telemetry.CallbackSent(w.SwitchId, recovery.Attempts, now - recovery.DropTime);
                LogSent(recovery.RecoveryId, recovery.Attempts, w.SwitchId, connection.InstanceId);
            })).ConfigureAwait(false);
            await store.RequeueAsync(w.SwitchId, requeue, now).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    /// <summary>Acknowledgement timeouts and deadlines of every switch that has work.</summary>
    public async Task SweepAsync()
    {
        var now = time.GetUtcNow();
        foreach (var connection in connections.All())
        {
            connection.ReleaseSentBefore(now - _options.AcknowledgementTimeout);
        }

        var switches = await store.SwitchesWithWorkAsync().ConfigureAwait(false);
        await Task.WhenAll(switches.Select(async switchId =>
        {
            var (overdue, expiring) = await store.SweepAsync(switchId, now, ExpiryLease, most: 500).ConfigureAwait(false);
            if (overdue.Count > 0)
            {
                LogOverdue(overdue.Count, switchId);
            }

            await Task.WhenAll(expiring.Select(callId => scheduler.ExpireAsync(switchId, callId))).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug, Message = "Sent recovery {RecoveryId} attempt {Attempt} to switch {SwitchId} instance {InstanceId}")]
    private partial void LogSent(string recoveryId, int attempt, string switchId, string instanceId);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "{Count} command(s) of switch {SwitchId} not acknowledged in time; sending again")]
    private partial void LogOverdue(int count, string switchId);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Dispatch paused, Redis or Kafka unavailable: {Reason}")]
    private partial void LogUnavailable(string reason);
}
