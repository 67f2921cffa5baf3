using CallRecovery.Contracts.V1;
using CallRecovery.Hosting;
using CallRecovery.Outages;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Recoveries;
using CallRecovery.Subscribers;
using Microsoft.Extensions.Options;

namespace CallRecovery.Delivery;

/// <summary>
/// Each replica's delivery work, as two supervised loops. Dispatch: woken by work (a window place freed, a switch
/// connected, a command due now or at a time it was told, by this replica or another through Redis pub/sub), and at
/// the latest every poll interval, it takes due commands of the switches connected to it (as many as their windows
/// allow), checks each at the moment the phone would ring, and sends it through the lifecycle's door; it goes round at
/// once while windows fill completely. Sweep: what is overdue in every switch's queue (an acknowledgement, a deadline,
/// an accepted callback's outcome), connected anywhere or not, goes through the door too; outage releases left
/// unfinished are finished; cancels are read again in case an announcement was missed. Neither loop can stop the
/// process; both beat for liveness.
/// </summary>
public sealed partial class DispatchLoop(
    SwitchQueues queues,
    RecoveryMoves moves,
    SubscriberFacts subscribers,
    SwitchConnections connections,
    SwitchCancels cancels,
    LifecycleEffects effects,
    DispatchSignal signal,
    CallbackTiming timing,
    OutageGuard outages,
    DispatchPause pause,
    IOptions<SwitchingOptions> options,
    LoopSupervisor supervisor,
    LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<DispatchLoop> logger,
    CallbackCommands? commands = null,
    IOptions<TestingOptions>? testing = null) : BackgroundService
{
    private readonly bool _plantDoubleSend = testing?.Value.PlantDoubleSend ?? false;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    /// <summary>The soonest a dispatch round follows the one before for a due time that round reported.</summary>
    private static readonly TimeSpan DueCoalescing = TimeSpan.FromMilliseconds(5);
    private readonly SwitchingOptions _options = options.Value;
    private bool _dueSubscribed;
    private bool _cancelsSubscribed;

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
        while (!stoppingToken.IsCancellationRequested)
        {
            heartbeats.Beat("dispatch");
            var more = false;
            try
            {
                // Another replica queued work for a switch connected here: wake when it is due; a cancel for a switch
                // connected here: written to its streams. Each once for the replica's life: a restarted loop must not
                // add a second handler.
                if (!_dueSubscribed)
                {
                    await queues.SubscribeDueAsync(DueHere).ConfigureAwait(false);
                    _dueSubscribed = true;
                }

                if (!_cancelsSubscribed)
                {
                    await cancels.SubscribeAsync().ConfigureAwait(false);
                    _cancelsSubscribed = true;
                }

                // The kill switch as it stands, and every change to it from now on (once; later rounds return at once).
                await pause.StartAsync().ConfigureAwait(false);

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

    /// <summary>Wakes this replica's dispatch when <paramref name="dueAt"/> comes, if it serves <paramref name="switchId"/>.</summary>
    private void DueHere(string switchId, DateTimeOffset dueAt)
    {
        if (connections.Of(switchId).Count > 0)
        {
            signal.DueAt(dueAt);
        }
    }

    /// <summary>Sends due commands to this replica's connections, up to their free windows; true when a window took all it asked for (more may be due).</summary>
    public async Task<bool> DispatchDueAsync()
    {
        if (pause.Paused)
        {
            // The kill switch: nothing new goes out; what is due stays queued until the pause ends or its deadline passes.
            return false;
        }

        var now = time.GetUtcNow();
        var more = false;
        // Commands that missed their send slots (a slow round, a busy machine): new slots of the switch's pace.
        foreach (var connection in connections.All())
        {
            // Vulnerable customers' commands (and retries running out of time) take the earliest of the new slots.
            var missed = connection.TakeMissedSlots().OrderByDescending(m => m.Command.Command?.Priority == Priority.High).ToList();
            if (missed.Count > 0)
            {
                var slots = await queues.ReslotAsync(connection.SwitchId, [.. missed.Select(m => m.CallId)], now, _options.AcknowledgementTimeout, connection.AdmissionRate).ConfigureAwait(false);
                for (var i = 0; i < missed.Count; i++)
                {
                    if (connection.TrySendCommand(missed[i].CallId, missed[i].Command, slots[i]) == CommandWrite.Refused)
                    {
                        // The stream stopped reading: the place goes back; the command goes round when its acknowledgement times out.
                        connection.Release(missed[i].CallId);
                    }
                }
            }
        }

        await Task.WhenAll(connections.FreeWindows().Where(w => w.Free > 0).Select(async w =>
        {
            var (claimed, nextDue) = await queues.ClaimDueAsync(w.SwitchId, w.Free, now, _options.AcknowledgementTimeout, w.AdmissionRate).ConfigureAwait(false);
            if (nextDue is { } next)
            {
                // Wake when the next command of this switch is due, not only at the due times announced (a batch's
                // earliest), but not sooner than a few milliseconds from now: under load due times are dense, and
                // a round per command would cost a claim each and batch nothing.
                signal.DueAt(next > now + DueCoalescing ? next : now + DueCoalescing);
            }

            var waiting = claimed.Count == 0 ? [] : await SendAsync(w.SwitchId, claimed, now).ConfigureAwait(false);
            await queues.RequeueAsync(w.SwitchId, waiting, now).ConfigureAwait(false);
            if (claimed.Count == w.Free && waiting.Count == 0)
            {
                // All it asked for was due, and all went (none waits for room): more may be due.
                more = true;
            }
        })).ConfigureAwait(false);
        return more;
    }

    /// <summary>
    /// Sends claimed commands: reads each recovery, checks at this moment that neither party opted out or is under
    /// emergency protection and that they have not reached each other since the drop (then it is cancelled, nothing
    /// sent), and that a delayed callback (a retry, or one that was held) is not due in the customer's quiet hours
    /// (then it waits for their end); the rest go through the door as dispatches on connections with room, decided on
    /// what was read, so a move that came in between (an opt-out's cancel) is seen. Returns those that must wait for room.
    /// </summary>
    private async Task<IReadOnlyList<string>> SendAsync(string switchId, IReadOnlyList<(string CallId, DateTimeOffset? SendAt)> claimed, DateTimeOffset now)
    {
        // As this replica last knew them (most were created or moved here a moment ago): each dispatch is written only
        // at the version it was decided on, so one changed meanwhile is not sent (and is read again at its next claim).
        var read = await moves.ReadForMovesAsync([.. claimed.Select(c => c.CallId)]).ConfigureAwait(false);
        var unusual = Enumerable.Range(0, read.Count).Where(i => read[i] is { Recent: true, Record.State: not (RecoveryState.Pending or RecoveryState.Dispatched) }).ToList();
        if (unusual.Count > 0)
        {
            // Held, accepted or ended as this replica last knew it, yet claimed as due: read as stored now.
            var current = await moves.ReadAsync([.. unusual.Select(i => claimed[i].CallId)]).ConfigureAwait(false);
            var fresh = read.ToArray();
            for (var n = 0; n < unusual.Count; n++)
            {
                fresh[unusual[n]] = current[n];
            }

            read = fresh;
        }

        var slots = claimed.ToDictionary(c => c.CallId, c => c.SendAt, StringComparer.Ordinal);
        var gone = claimed.Where((_, i) => read[i] is null || read[i]!.Record.SwitchId != switchId).Select(c => c.CallId).ToList();
        var present = Enumerable.Range(0, claimed.Count).Where(i => read[i] is { } s && s.Record.SwitchId == switchId).Select(i => read[i]!).ToList();
        var checking = present.Where(s => s.Record.State is RecoveryState.Pending or RecoveryState.Dispatched && s.Record.Deadline > now).ToList();
        // The parties' facts and their calls since the drop, read side by side (one round trip, not two).
        var reading = subscribers.FactsAsync([.. checking.SelectMany(s => new[] { s.Record.CallBack, s.Record.OtherParty })], now);
        var connecting = subscribers.ConnectedSinceAsync([.. checking.Select(s => (s.Record.CallBack, s.Record.OtherParty, s.Record.DropTime))]);
        await Task.WhenAll(reading, connecting).ConfigureAwait(false);
        var (facts, connected) = (reading.Result, connecting.Result);
        var problems = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var n = 0; n < checking.Count; n++)
        {
            var recovery = checking[n].Record;
            var (customer, other) = (facts[2 * n], facts[(2 * n) + 1]);
            var problem = customer.OptedOut ? "the customer opted out since the decision"
                : customer.NotNow ? "the customer asked for no callbacks since the decision"
                : other.OptedOut ? "the party to reconnect opted out since the decision"
                : customer.Protected ? "the customer is under emergency protection since the decision"
                : other.Protected ? "the party to reconnect is under emergency protection since the decision"
                : connected[n].Any(c => c != recovery.CallId) ? "the parties reached each other before the callback"
                : null;
            if (problem is not null)
            {
                problems[recovery.CallId] = problem;
            }
        }

        var toApply = new List<(StoredRecovery? Read, RecoveryMove Move)>();
        var reserved = new Dictionary<string, SwitchConnection>(StringComparer.Ordinal);
        var waiting = new List<string>();
        foreach (var stored in present)
        {
            var recovery = stored.Record;
            if (_plantDoubleSend && commands is not null && recovery is { State: RecoveryState.Acknowledged, Attempts: 1 } && Reserve(switchId, recovery.CallId, now) is { } planted)
            {
                // The planted defect (Testing:PlantDoubleSend): an accepted callback sent again, past the door.
                var again = commands.From(recovery);
                again.Attempt = 2;
                planted.TrySendCommand(recovery.CallId, new ServiceMessage { Command = again }, slots[recovery.CallId]);
                continue;
            }

            if (problems.TryGetValue(recovery.CallId, out var problem))
            {
                toApply.Add((stored, new CancelMove(recovery.CallId, new FoundAtDispatch(problem))));
            }
            else if (recovery.Delayed && recovery.Deadline > now && recovery.State is RecoveryState.Pending or RecoveryState.Dispatched && timing.QuietUntil(recovery.CallBack, now) is { } quietEnd)
            {
                // Not the callback right after the drop (a retry, or it waited while held): never inside quiet hours.
                var detail = $"the customer's quiet hours ({timing.ZoneOf(recovery.CallBack).Id} local time) last until {quietEnd:yyyy-MM-dd HH:mm} UTC";
                toApply.Add((stored, quietEnd < recovery.Deadline ? new DeferMove(recovery.CallId, quietEnd, detail) : new ExpireMove(recovery.CallId, detail + ", past the deadline")));
            }
            else if (recovery.State is not (RecoveryState.Pending or RecoveryState.Dispatched) || recovery.Deadline <= now)
            {
                // Held, accepted or ended, or past its deadline: the door says what becomes of it (nothing is sent).
                toApply.Add((stored, new DispatchMove(recovery.CallId, switchId, string.Empty)));
            }
            else if (recovery.Shadow)
            {
                // Shadow: checked, due and paced like any callback, this is the moment its command would go. It ends
                // here, "would have called at" its slot; nothing is sent and no window place is taken.
                toApply.Add((stored, new ShadowMove(recovery.CallId, switchId, slots[recovery.CallId] ?? now)));
            }
            else if (Reserve(switchId, recovery.CallId, now) is { } connection)
            {
                reserved[recovery.CallId] = connection;
                toApply.Add((stored, new DispatchMove(recovery.CallId, switchId, connection.Id, slots[recovery.CallId])));
            }
            else
            {
                waiting.Add(recovery.CallId);
            }
        }

        IReadOnlyList<RecoveryTransition> transitions;
        try
        {
            transitions = await ApplyIsolatingAsync(toApply).ConfigureAwait(false);
        }
        catch
        {
            // Redis away part-way: no place taken for this round stays taken (what was written goes round again when
            // its acknowledgement times out).
            foreach (var (callId, connection) in reserved)
            {
                connection.Release(callId);
            }

            throw;
        }

        var later = new List<(string CallId, DateTimeOffset DueAt)>();
        foreach (var transition in transitions)
        {
            if (reserved.TryGetValue(transition.Move.CallId, out var connection) && !transition.Effects.HasFlag(RecoveryEffects.SendCommand))
            {
                // Decided otherwise meanwhile (a cancel came between the read and the move): the place goes back.
                connection.Release(transition.Move.CallId);
                if (transition.Verdict == RecoveryVerdict.Kept && transition.Recovery is { State: RecoveryState.Pending or RecoveryState.Dispatched } current)
                {
                    // Changed since it was read, or not due yet: back in the queue at its due time, read and checked afresh then.
                    later.Add((transition.Move.CallId, current.DueAt > now ? current.DueAt : now));
                }
            }
        }

        foreach (var due in later.GroupBy(l => l.DueAt))
        {
            await queues.RequeueAsync(switchId, [.. due.Select(l => l.CallId)], due.Key).ConfigureAwait(false);
        }

        // Gone from Redis (retention), or another switch's: nothing to deliver from this queue.
        await queues.SettleAsync(switchId, gone).ConfigureAwait(false);
        return waiting;
    }

    /// <summary>
    /// The round's moves through the door; when that fails for a reason that is not Redis being away (one recovery's
    /// stored state this version cannot read, one that keeps changing), each alone, so one recovery cannot stop the
    /// others: the one at fault is logged and left to its acknowledgement timeout.
    /// </summary>
    private async Task<IReadOnlyList<RecoveryTransition>> ApplyIsolatingAsync(List<(StoredRecovery? Read, RecoveryMove Move)> toApply)
    {
        try
        {
            return await moves.ApplyAsync(toApply).ConfigureAwait(false);
        }
        catch (Exception e) when (!TransientErrors.IsTransient(e))
        {
            if (toApply.Count == 1)
            {
                LogSendFailed(e, toApply[0].Read?.Record.RecoveryId ?? "(unknown)", toApply[0].Move.Trigger);
                return [];
            }

            var transitions = new List<RecoveryTransition>();
            foreach (var one in toApply)
            {
                transitions.AddRange(await ApplyIsolatingAsync([one]).ConfigureAwait(false));
            }

            return transitions;
        }
    }

    /// <summary>A window place on the healthy connection with the most room; a connection still holding the command from an earlier attempt never answered for it: it is stuck.</summary>
    private SwitchConnection? Reserve(string switchId, string callId, DateTimeOffset now)
    {
        foreach (var holder in connections.Release(callId))
        {
            holder.MarkStuck(now);
        }

        return connections.Reserve(switchId, callId, now);
    }

    /// <summary>Stuck streams closed; then what is overdue in every switch's queue goes through the door.</summary>
    public async Task SweepAsync()
    {
        var now = time.GetUtcNow();
        // The kill switch again, in case a change was announced while this replica was not listening.
        await pause.RefreshAsync().ConfigureAwait(false);
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

        // The rates the instances here declared are renewed whatever their windows: one whose window is full (or stuck)
        // for a minute must not let its lower rate lapse, or the other replicas would pace its pool faster.
        await Task.WhenAll(connections.FreeWindows().Where(w => w.AdmissionRate > 0)
            .Select(w => queues.DeclareRateAsync(w.SwitchId, w.AdmissionRate, now))).ConfigureAwait(false);

        // Which cells and nodes are in an outage (another replica may have declared or ended one), for the gauges too;
        // releases another replica began and did not finish; cancels whose announcement this replica missed.
        await outages.RefreshAsync().ConfigureAwait(false);
        await outages.FinishReleasesAsync().ConfigureAwait(false);
        await cancels.DeliverAllNewAsync().ConfigureAwait(false);
        var switches = await queues.SwitchesAsync().ConfigureAwait(false);
        await Task.WhenAll(switches.Select(async switchId =>
        {
            var (unacknowledged, pastDeadline, silent) = await queues.SweepAsync(switchId, now, Lease, most: 500).ConfigureAwait(false);
            if (unacknowledged.Count > 0)
            {
                LogOverdue(unacknowledged.Count, switchId);
                foreach (var holder in unacknowledged.SelectMany(connections.Release))
                {
                    // Overdue on a connection of this replica: it gets no new commands until it answers again.
                    holder.MarkStuck(now);
                }
            }

            var transitions = await moves.ApplyAsync([
                .. unacknowledged.Select(callId => (RecoveryMove)new AckTimeoutMove(callId)),
                .. pastDeadline.Select(callId => (RecoveryMove)new ExpireMove(callId)),
                .. silent.Select(callId => (RecoveryMove)new OutcomeTimeoutMove(callId, _options.OutcomeTimeout, _options.BridgedOutcomeTimeout)),
            ]).ConfigureAwait(false);

            // The queue's own housekeeping: entries of recoveries gone from Redis leave it; an accepted callback that
            // reported meanwhile is supervised again from its latest report.
            await queues.SettleAsync(switchId, [.. transitions.Where(t => t.Verdict == RecoveryVerdict.Unknown).Select(t => t.Move.CallId)]).ConfigureAwait(false);
            await queues.SuperviseAsync(switchId, [.. transitions.Where(t => t.Trigger == RecoveryTrigger.OutcomeTimeout && t.Verdict == RecoveryVerdict.Kept)
                .Select(t => (t.Move.CallId, effects.SupervisedUntil(t.Recovery!)))]).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "{Count} command(s) of switch {SwitchId} not acknowledged in time; sending again")]
    private partial void LogOverdue(int count, string switchId);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Error, Message = "Recovery {RecoveryId}: its {Trigger} failed; the others of the round went on, it goes round again when its acknowledgement times out")]
    private partial void LogSendFailed(Exception exception, string recoveryId, RecoveryTrigger trigger);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Closing the stream of switch {SwitchId} instance {InstanceId} ({ConnectionId}): it stopped acknowledging commands")]
    private partial void LogClosingStuck(string switchId, string instanceId, string connectionId);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "{Loop} paused, Redis or Kafka unavailable: {Reason}")]
    private partial void LogUnavailable(string loop, string reason);
}
