using System.Diagnostics;
using CallRecovery.Contracts.V1;
using Microsoft.Extensions.Options;
using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Recoveries;

namespace CallRecovery.Delivery;

/// <summary>
/// Each replica's delivery work, as two supervised loops. Dispatch: woken by work (a window place freed, a switch
/// connected, a command due now or at a time it was told, by this replica or another through Redis pub/sub), and at
/// the latest every poll interval, it takes due commands of the switches connected to it (as many as their windows
/// allow) and sends them, and goes round at once while windows fill completely. Sweep: it sends overdue
/// acknowledgements round again and expires commands past their deadline, for all switches, connected
/// anywhere or not. Neither loop can stop the process; both beat for liveness.
/// </summary>
public sealed partial class DispatchLoop(
    RecoveryStore store,
    SwitchConnections connections,
    DispatchSignal signal,
    CallbackCommands commands,
    RecoveryScheduler scheduler,
    CallbackTiming timing,
    OutageGuard outages,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    LoopSupervisor supervisor,
    LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<DispatchLoop> logger) : BackgroundService
{
    private static readonly TimeSpan ExpiryLease = TimeSpan.FromSeconds(30);

    /// <summary>The soonest a dispatch round follows the one before for a due time that round reported.</summary>
    private static readonly TimeSpan DueCoalescing = TimeSpan.FromMilliseconds(5);
    private readonly SwitchingOptions _options = options.Value;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        supervisor.RunAsync("dispatch", DispatchWhenWokenAsync, stoppingToken),
        supervisor.RunAsync("sweep", token => EveryAsync("sweep", _options.SweepInterval, SweepAsync, token), stoppingToken));

    private async Task EveryAsync(string loop, TimeSpan interval, Func<Task> work, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            heartbeats.Beat(loop);
            try
            {
                await work().ConfigureAwait(false);
            }
            catch (Exception e) when (TransientErrors.IsTransient(e))
            {
                // Redis or Kafka is away: commands stay in Redis; the next tick tries again.
                LogUnavailable(loop, TransientErrors.Describe(e));
            }
        }
    }

    private async Task DispatchWhenWokenAsync(CancellationToken stoppingToken)
    {
        var subscribed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeats.Beat("dispatch");
            var more = false;
            try
            {
                if (!subscribed)
                {
                    // Another replica queued work for a switch connected here: wake when it is due.
                    await store.SubscribeDueAsync(scheduler.DueHere).ConfigureAwait(false);
                    subscribed = true;
                }

                more = await DispatchDueAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (TransientErrors.IsTransient(e))
            {
                // Redis is away: commands stay in Redis; the next wake-up or poll tries again.
                LogUnavailable("dispatch", TransientErrors.Describe(e));
            }

            if (!more)
            {
                await signal.WaitAsync(_options.PollInterval, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Sends due commands to this replica's connections, up to their free windows; true when a window took all it asked for (more may be due).</summary>
    public async Task<bool> DispatchDueAsync()
    {
        var now = time.GetUtcNow();
        var more = false;
        await Task.WhenAll(connections.FreeWindows().Where(w => w.Free > 0).Select(async w =>
        {
            var (claimed, nextDue) = await store.ClaimDueAsync(w.SwitchId, w.Free, now, now + _options.AcknowledgementTimeout, w.AdmissionRate).ConfigureAwait(false);
            if (nextDue is { } next)
            {
                // Wake when the next command of this switch is due, not only at the due times announced (a batch's
                // earliest), but not sooner than a few milliseconds from now: under load due times are dense, and
                // a round per command would cost a claim each and batch nothing.
                signal.DueAt(next > now + DueCoalescing ? next : now + DueCoalescing);
            }

            var requeue = new List<string>();
            await Task.WhenAll(claimed.Select(async callId =>
            {
                try
                {
                    if (!await SendAsync(w.SwitchId, callId, now).ConfigureAwait(false))
                    {
                        lock (requeue)
                        {
                            requeue.Add(callId);
                        }
                    }
                }
                catch (Exception e) when (!TransientErrors.IsTransient(e))
                {
                    // One recovery's problem: it stays in flight, the sweep offers it again, its deadline ends it. The others go on.
                    connections.Release(callId);
                    LogSendFailed(e, callId, w.SwitchId);
                }
            })).ConfigureAwait(false);
            await store.RequeueAsync(w.SwitchId, requeue, now).ConfigureAwait(false);
            if (claimed.Count == w.Free && requeue.Count == 0)
            {
                // All it asked for was due, and all went (none waits for room): more may be due.
                more = true;
            }
        })).ConfigureAwait(false);
        return more;
    }

    /// <summary>
    /// Sends one claimed command on a connection with room: marks it dispatched, then checks, after the mark, that
    /// neither party opted out or is under emergency protection and that they have not reached each other since
    /// the drop; if one of those holds, the recovery ends cancelled and nothing is sent. A delayed callback (a retry,
    /// or one that was held) due in the customer's quiet hours waits for their end instead. False when it must wait.
    /// </summary>
    private async Task<bool> SendAsync(string switchId, string callId, DateTimeOffset now)
    {
        // A new attempt supersedes any older one still counted against a window here; a connection that still held
        // it never answered for it (a rejection or a broken stream would have freed it): it is stuck.
        foreach (var holder in connections.Release(callId))
        {
            holder.MarkStuck(now);
        }

        var connection = connections.Reserve(switchId, callId, now);
        if (connection is null)
        {
            return false;
        }

        var transition = await store.DispatchAsync(callId, switchId, connection.Id, now).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Kept || transition.Recovery is not { } recovery)
        {
            // Another switch's command, or gone from Redis: nothing to deliver from this queue.
            connection.Release(callId);
            await store.SettleEntriesAsync(switchId, callId).ConfigureAwait(false);
            return true;
        }

        if (!transition.Effects.HasFlag(RecoveryEffects.SendCommand))
        {
            // Already accepted or ended, or past its deadline (then expired now, with its outcome published).
            connection.Release(callId);
            await scheduler.CarryOutAsync(transition).ConfigureAwait(false);
            return true;
        }

        if (await store.SafetyProblemAsync(recovery).ConfigureAwait(false) is { } problem)
        {
            connection.Release(callId);
            await scheduler.CancelAsync(callId, problem).ConfigureAwait(false);
            return true;
        }

        if (recovery.Delayed && timing.QuietUntil(recovery.CallBack, now) is { } quietEnd)
        {
            // Not the callback right after the drop (a retry, or it waited while held): never inside quiet hours.
            connection.Release(callId);
            await scheduler.PutOffForQuietHoursAsync(recovery, quietEnd, timing.ZoneOf(recovery.CallBack).Id).ConfigureAwait(false);
            return true;
        }

        using var span = recovery.StartSpan("dispatch", ActivityKind.Producer);
        var command = commands.From(recovery);
        command.Traceparent = span?.Id ?? recovery.TraceParent;
        command.Tracestate = span?.TraceStateString ?? string.Empty;
        if (!connection.TrySend(new ServiceMessage { Command = command }))
        {
            connection.Release(callId);
            return false;
        }

        telemetry.CallbackSent(switchId, recovery.Attempts, now - recovery.DropTime, now - recovery.DueAt);
        LogSent(recovery.RecoveryId, recovery.Attempts, switchId, connection.InstanceId);
        return true;
    }

    /// <summary>Acknowledgement timeouts and deadlines of every switch that has work.</summary>
    public async Task SweepAsync()
    {
        var now = time.GetUtcNow();
        foreach (var connection in connections.All())
        {
            if (connection.ReleaseSentBefore(now - _options.AcknowledgementTimeout) > 0)
            {
                // Its overdue commands go round again, to another live instance of the switch when there is one.
                connection.MarkStuck(now);
            }

            if (connection.StuckSince is { } since && now - since >= _options.StuckConnectionGrace)
            {
                LogClosingStuck(connection.SwitchId, connection.InstanceId, connection.Id);
                connection.Close();
            }
        }

        // Which cells and nodes are in an outage (another replica may have declared or ended one), for the gauges too.
        await outages.RefreshAsync().ConfigureAwait(false);
        var switches = await store.SwitchesWithWorkAsync().ConfigureAwait(false);
        await Task.WhenAll(switches.Select(async switchId =>
        {
            var (overdue, expiring) = await store.SweepAsync(switchId, now, ExpiryLease, most: 500).ConfigureAwait(false);
            if (overdue.Count > 0)
            {
                LogOverdue(overdue.Count, switchId);
                await scheduler.AnnounceDueAsync(switchId, now).ConfigureAwait(false);
            }

            foreach (var holder in overdue.SelectMany(connections.Release))
            {
                // Overdue on a connection of this replica: it gets no new commands until it answers again.
                holder.MarkStuck(now);
            }

            await Task.WhenAll(expiring.Select(callId => scheduler.ExpireAsync(switchId, callId))).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug, Message = "Sent recovery {RecoveryId} attempt {Attempt} to switch {SwitchId} instance {InstanceId}")]
    private partial void LogSent(string recoveryId, int attempt, string switchId, string instanceId);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "{Count} command(s) of switch {SwitchId} not acknowledged in time; sending again")]
    private partial void LogOverdue(int count, string switchId);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Closing the stream of switch {SwitchId} instance {InstanceId} ({ConnectionId}): it stopped acknowledging commands")]
    private partial void LogClosingStuck(string switchId, string instanceId, string connectionId);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Error, Message = "Could not send the command of call {CallId} to switch {SwitchId}; it will be offered again")]
    private partial void LogSendFailed(Exception exception, string callId, string switchId);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "{Loop} paused, Redis or Kafka unavailable: {Reason}")]
    private partial void LogUnavailable(string loop, string reason);
}
