using System.Diagnostics;
using CallRecovery.Amends;
using CallRecovery.Contracts.V1;
using CallRecovery.Hosting;
using CallRecovery.Observability;
using CallRecovery.Outcomes;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;

namespace CallRecovery.Delivery;

/// <summary>
/// The lifecycle's effects port (<see cref="IRecoveryEffects"/>), implemented once: what each move emits
/// (<see cref="RecoveryEffects"/>) is carried out here, for a batch of transitions at a time. Updates are published
/// first (to the switch's outbox in Redis), then the switches' queues change (one run per kind and switch), then this
/// replica's connections (a command sent, window places freed) and the cancels that must reach the switch wherever it
/// is connected; last, what is counted and logged. A crash part-way leaves the move made and its effects to be
/// done again: the caller retries the move, whose repetition (an unchanged verdict) emits the same effects.
/// </summary>
public sealed partial class LifecycleEffects(
    SwitchQueues queues,
    RecoveryIndex index,
    OutcomePublisher outcomes,
    Compensations compensations,
    SwitchConnections connections,
    SwitchCancels cancels,
    CallbackCommands commands,
    DispatchSignal signal,
    DurabilityBarrier durability,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    TimeProvider time,
    ILogger<LifecycleEffects> logger,
    CrashPoints? crash = null,
    IOptions<TestingOptions>? testing = null) : IRecoveryEffects
{
    private readonly SwitchingOptions _options = options.Value;
    private readonly bool _plantDoubleSend = testing?.Value.PlantDoubleSend ?? false;

    public async Task CarryOutAsync(IReadOnlyList<RecoveryTransition> transitions)
    {
        var acting = transitions.Where(t => t.Recovery is not null && t.Effects != RecoveryEffects.None).ToList();
        if (acting.Count == 0)
        {
            return;
        }

        // (The crash tests: an outcome stored on its recovery, not yet in the outbox.)
        if (acting.Any(t => t.Trigger == RecoveryTrigger.Outcome && t.Effects.HasFlag(RecoveryEffects.PublishOutcome)))
        {
            crash?.Reached(CrashPoints.OutcomeStored);
        }

        var now = time.GetUtcNow();
        await Task.WhenAll(acting.Select(PublishAsync)).ConfigureAwait(false);
        await QueueAsync(acting, now).ConfigureAwait(false);
        if (_plantDoubleSend)
        {
            // The planted defect (Testing:PlantDoubleSend): a callback accepted on its first delivery is queued again,
            // and the dispatch sends it once more (see DispatchLoop), to whichever instance takes it.
            foreach (var accepted in acting.Where(t => t.Trigger == RecoveryTrigger.Accept && t.Verdict == RecoveryVerdict.Applied && t.Recovery!.Attempts == 1))
            {
                await queues.EnqueueAsync(accepted.Recovery!.SwitchId, [new QueuedCommand(accepted.Recovery.CallId, now, accepted.Recovery.Deadline, Move: true, accepted.Recovery.Vulnerable)]).ConfigureAwait(false);
                await AnnounceDueAsync(accepted.Recovery.SwitchId, now).ConfigureAwait(false);
            }
        }

        if (acting.Any(t => t.Effects.HasFlag(RecoveryEffects.SendCommand)))
        {
            // A command goes out only once the move that sent it (and all before it) is durable: a Redis that lost the
            // move after a failover would send it again. One wait for the round.
            await durability.WaitAsync().ConfigureAwait(false);
        }

        foreach (var transition in acting)
        {
            SendAndFree(transition, now);
        }

        await Task.WhenAll(acting.SelectMany(CancelsOf).GroupBy(c => c.SwitchId, StringComparer.Ordinal)
            .Select(s => cancels.PostAsync(s.Key, [.. s.Select(c => c.Cancel)]))).ConfigureAwait(false);
        foreach (var transition in acting)
        {
            Count(transition);
        }
    }

    /// <summary>The switch's own delay is not ours: when an accepted callback counts as silent.</summary>
    public DateTimeOffset SupervisedUntil(RecoveryRecord recovery)
    {
        ArgumentNullException.ThrowIfNull(recovery);
        var bridged = recovery.StageTimes.ContainsKey(nameof(Stage.Bridged) + (recovery.CallbackAttempt > 1 ? "@" + recovery.CallbackAttempt : string.Empty));
        return (recovery.LastReportAt ?? recovery.AcknowledgedAt ?? time.GetUtcNow()) + (bridged ? _options.BridgedOutcomeTimeout : _options.OutcomeTimeout);
    }

    private async Task PublishAsync(RecoveryTransition transition)
    {
        var (effects, recovery) = (transition.Effects, transition.Recovery!);
        if (effects.HasFlag(RecoveryEffects.PublishStage) && transition.Move is ProgressMove progress)
        {
            using var span = recovery.StartSpan("progress");
            span?.SetTag(RecoveryTracing.Stage, progress.Stage.ToString());
            await outcomes.PublishStageAsync(recovery, progress.Stage, progress.At).ConfigureAwait(false);
        }

        if (effects.HasFlag(RecoveryEffects.PublishOutcome) && transition.Trigger == RecoveryTrigger.Retry && recovery.EarlierCallbacks is [.., var ended])
        {
            // The outcome of the callback before, not the recovery's: published as such, the next callback queued after.
            var tried = Enum.TryParse<Outcome>(ended.Outcome, out var reported) ? reported : Outcome.Unspecified;
            using var span = recovery.StartSpan("retry");
            span?.SetTag(RecoveryTracing.Outcome, tried.ToString());
            await outcomes.PublishRetriedAsync(recovery, ended, tried).ConfigureAwait(false);
        }
        else if (effects.HasFlag(RecoveryEffects.PublishOutcome) && OutcomeOf(recovery) is var outcome && outcome != Outcome.Unspecified)
        {
            using var span = recovery.StartSpan(recovery.State switch { RecoveryState.Expired => "expire", RecoveryState.Cancelled => "cancel", _ => "outcome" });
            span?.SetTag(RecoveryTracing.Outcome, outcome.ToString()).SetTag(RecoveryTracing.Detail, recovery.Detail);
            await outcomes.PublishOutcomeAsync(recovery, outcome).ConfigureAwait(false);
            // Amends for an end without a reconnect, once per recovery (after the outcome, in the same outbox).
            await compensations.CompensateAsync(recovery, outcome, span?.Id ?? recovery.TraceParent).ConfigureAwait(false);
        }

        if (effects.HasFlag(RecoveryEffects.PublishDeferral) && transition.Verdict == RecoveryVerdict.Applied)
        {
            using var span = recovery.StartSpan("defer");
            span?.SetTag(RecoveryTracing.Detail, recovery.Deferral);
            await outcomes.PublishDeferredAsync(recovery).ConfigureAwait(false);
        }
    }

    /// <summary>The switches' queues: each kind of change as one run per switch; then the replicas serving them are told what is due.</summary>
    private async Task QueueAsync(List<RecoveryTransition> acting, DateTimeOffset now)
    {
        var work = new List<Task>();
        foreach (var bySwitch in acting.GroupBy(t => t.Recovery!.SwitchId, StringComparer.Ordinal))
        {
            var switchId = bySwitch.Key;
            var enqueued = new List<QueuedCommand>();
            var parked = new List<(string, DateTimeOffset)>();
            var settled = new List<string>();
            var supervised = new List<(string, DateTimeOffset)>();
            var requeued = new List<(string CallId, DateTimeOffset DueAt)>();
            foreach (var transition in bySwitch)
            {
                var (effects, recovery) = (transition.Effects, transition.Recovery!);
                if (effects.HasFlag(RecoveryEffects.Enqueue))
                {
                    // A move that set a new due time puts it there; a repeated one, or a scheduling, only makes sure it is queued.
                    enqueued.Add(new QueuedCommand(recovery.CallId, recovery.DueAt, recovery.Deadline, Move: transition.Verdict == RecoveryVerdict.Applied, recovery.Vulnerable));
                }

                if (effects.HasFlag(RecoveryEffects.Park))
                {
                    parked.Add((recovery.CallId, recovery.Deadline));
                }

                if (effects.HasFlag(RecoveryEffects.Supervise))
                {
                    supervised.Add((recovery.CallId, SupervisedUntil(recovery)));
                }
                else if (effects.HasFlag(RecoveryEffects.LeaveQueue))
                {
                    settled.Add(recovery.CallId);
                }

                if (effects.HasFlag(RecoveryEffects.Requeue))
                {
                    // Not before the callback is due (a claim that never went out of a callback due later, after a retry's gap).
                    var again = now + (transition.Trigger == RecoveryTrigger.Reject ? _options.RejectionBackoff : TimeSpan.Zero);
                    requeued.Add((recovery.CallId, recovery.State == RecoveryState.Pending && recovery.DueAt > again ? recovery.DueAt : again));
                }
            }

            work.Add(queues.EnqueueAsync(switchId, enqueued));
            work.Add(queues.ParkAsync(switchId, parked));
            work.Add(queues.SettleAsync(switchId, settled));
            work.Add(queues.SuperviseAsync(switchId, supervised));
            work.AddRange(requeued.GroupBy(r => r.DueAt).Select(g => queues.RequeueAsync(switchId, [.. g.Select(r => r.CallId)], g.Key)));
            if (enqueued.Count > 0 || requeued.Count > 0)
            {
                var due = enqueued.Select(e => e.DueAt).Concat(requeued.Select(r => r.DueAt)).Min();
                work.Add(AnnounceDueAsync(switchId, due));
            }
        }

        // Accepted callbacks live past their deadline, as long as they are supervised: kept filed for cancels as long.
        // A new recovery was filed for its first supervision already; only longer supervision files it again.
        var kept = acting.Where(t => t.Effects.HasFlag(RecoveryEffects.Supervise)).Select(t => (t.Recovery!, SupervisedUntil(t.Recovery!)))
            .Where(k => RecoveryIndex.OutlastsFiling(k.Item1, k.Item2)).ToList();
        if (kept.Count > 0)
        {
            work.Add(index.KeepUntilAsync(kept, now));
        }

        var filed = acting.Where(t => t.Effects.HasFlag(RecoveryEffects.Index)).Select(t => t.Recovery!).ToList();
        if (filed.Count > 0)
        {
            work.Add(index.FileAsync(filed, now));
            work.Add(queues.RecordSwitchesAsync(filed.Select(r => r.SwitchId)));
        }

        await Task.WhenAll(work).ConfigureAwait(false);
    }

    /// <summary>A command of <paramref name="switchId"/> is due then: wake this replica's dispatch if it serves the switch, and tell the others.</summary>
    public Task AnnounceDueAsync(string switchId, DateTimeOffset dueAt)
    {
        if (connections.Of(switchId).Count > 0)
        {
            signal.DueAt(dueAt);
        }

        return queues.AnnounceDueAsync(switchId, dueAt);
    }

    /// <summary>This replica's connections: the command out on the connection that took it; window places freed.</summary>
    private void SendAndFree(RecoveryTransition transition, DateTimeOffset now)
    {
        var (effects, recovery) = (transition.Effects, transition.Recovery!);
        if (effects.HasFlag(RecoveryEffects.SendCommand) && connections.Find(transition.Move.ConnectionId) is { } connection)
        {
            using var span = recovery.StartSpan("dispatch", ActivityKind.Producer);
            var command = commands.From(recovery);
            command.Traceparent = span?.Id ?? recovery.TraceParent;
            command.Tracestate = span?.TraceStateString ?? string.Empty;
            switch (connection.TrySendCommand(recovery.CallId, new ServiceMessage { Command = command }, (transition.Move as DispatchMove)?.SendAt))
            {
                case CommandWrite.Written or CommandWrite.MissedSlot:
                    // (A missed slot: the connection keeps the place and the next dispatch round gives it a new one at once.)
                    telemetry.CallbackSent(recovery.SwitchId, recovery.Attempts, now - recovery.DropTime, now - recovery.DueAt);
                    LogSent(recovery.RecoveryId, recovery.Attempts, recovery.SwitchId, connection.InstanceId);
                    break;
                default:
                    // The stream stopped reading: the command stays in flight and goes again when its acknowledgement times out.
                    connection.Release(recovery.CallId);
                    break;
            }
        }

        if (effects.HasFlag(RecoveryEffects.ReleaseWindow))
        {
            connections.Release(recovery.CallId);
        }
    }

    /// <summary>The cancels a transition sends to its switch: which delivery of which callback each withdraws.</summary>
    private IEnumerable<(string SwitchId, CancelCommand Cancel)> CancelsOf(RecoveryTransition transition)
    {
        if (!transition.Effects.HasFlag(RecoveryEffects.CancelAtSwitch))
        {
            yield break;
        }

        var recovery = transition.Recovery!;
        CancelCommand Cancel(int attempt, string reason) => new()
        {
            RecoveryId = recovery.RecoveryId,
            CallbackAttempt = (uint)recovery.CallbackAttempt,
            Attempt = (uint)attempt,
            Reason = reason,
        };

        if (transition.Verdict == RecoveryVerdict.Superseded && transition.Move is AcceptMove superseded)
        {
            // Another delivery of this callback was accepted first: only this delivery is withdrawn, the callback goes on.
            yield return (recovery.SwitchId, Cancel(superseded.Attempt, "another delivery of this callback was accepted first"));
        }
        else if (transition.Move is AcceptMove accepted && !RecoveryLifecycle.IsFinal(recovery.State))
        {
            // Accepted: deliveries of the callback newer than the accepted one are withdrawn.
            for (var attempt = Math.Max(accepted.Attempt + 1, recovery.CallbackSince); attempt <= recovery.Attempts; attempt++)
            {
                yield return (recovery.SwitchId, Cancel(attempt, "another delivery of this callback was accepted"));
            }
        }
        else if (transition.Move is AcceptMove late)
        {
            // Accepted after it ended: the switch is told not to start it.
            yield return (recovery.SwitchId, Cancel(late.Attempt, CancelReason(recovery)));
        }
        else if (recovery.Attempts >= recovery.CallbackSince)
        {
            // Ended while a delivery of this callback is out (or accepted): every delivery of it is withdrawn.
            yield return (recovery.SwitchId, Cancel(0, CancelReason(recovery)));
        }
    }

    private void Count(RecoveryTransition transition)
    {
        var (recovery, applied) = (transition.Recovery!, transition.Verdict == RecoveryVerdict.Applied);
        switch (transition.Trigger)
        {
            case RecoveryTrigger.Schedule when transition.Move is ScheduleMove { Created: true } && recovery.State == RecoveryState.Held:
                telemetry.Held(recovery.Hold);
                break;
            case RecoveryTrigger.Hold when applied && transition.From == RecoveryState.Pending:
                telemetry.Held(RecoveryLifecycle.HoldForOutage);
                break;
            case RecoveryTrigger.Release when applied && transition.From == RecoveryState.Held:
                telemetry.Released(recovery.Incident.Length > 0 ? RecoveryLifecycle.HoldForOutage : RecoveryLifecycle.HoldForReachability);
                using (var span = recovery.StartSpan("release"))
                {
                    span?.SetTag(RecoveryTracing.Incident, recovery.Incident);
                }

                break;
            case RecoveryTrigger.Shadow when applied:
                telemetry.WouldHaveCalled(recovery.SwitchId);
                break;
            case RecoveryTrigger.Defer when applied:
                telemetry.CallbackDeferred(recovery.SwitchId);
                break;
            case RecoveryTrigger.Retry when applied && recovery.EarlierCallbacks is [.., var ended]:
                telemetry.CallbackRetried(ended.Outcome, recovery.SwitchId);
                LogRetry(recovery.RecoveryId, ended.Outcome, ended.Number, recovery.DueAt);
                break;
        }

        if (transition.Effects.HasFlag(RecoveryEffects.CountOutcome) && OutcomeOf(recovery) is var outcome && outcome != Outcome.Unspecified)
        {
            telemetry.RecoveryEnded(outcome.ToString(), recovery.SwitchId);
            if (outcome == Outcome.Reconnected && recovery.StageTimes.TryGetValue(nameof(Stage.Bridged), out var bridged))
            {
                telemetry.Reconnected(bridged - recovery.DropTime);
            }

            LogEnded(recovery.RecoveryId, outcome, recovery.Detail);
        }
    }

    /// <summary>The outcome event of a recovery in a final state; unspecified otherwise.</summary>
    private static Outcome OutcomeOf(RecoveryRecord recovery) => recovery.State switch
    {
        // Expired for a reason of its own (an outage, an unreachable customer, quiet hours, no report), or plainly.
        RecoveryState.Expired => Enum.TryParse<Outcome>(recovery.Outcome, out var ended) && ended is not (Outcome.Unspecified or Outcome.Reconnected) ? ended : Outcome.Expired,
        RecoveryState.Cancelled => Outcome.Cancelled,
        RecoveryState.Completed when Enum.TryParse<Outcome>(recovery.Outcome, out var reported) => reported,
        _ => Outcome.Unspecified,
    };

    private static string CancelReason(RecoveryRecord recovery) =>
        RecoveryLifecycle.IsFinal(recovery.State) && recovery.Detail.Length > 0 ? recovery.Detail : "the recovery no longer needs this callback";

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug, Message = "Sent recovery {RecoveryId} attempt {Attempt} to switch {SwitchId} instance {InstanceId}")]
    private partial void LogSent(string recoveryId, int attempt, string switchId, string instanceId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Recovery {RecoveryId} callback {Callback} ended {Outcome}; the next callback is due at {DueAt:o}")]
    private partial void LogRetry(string recoveryId, string outcome, int callback, DateTimeOffset dueAt);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Recovery {RecoveryId} {Outcome}: {Detail}")]
    private partial void LogEnded(string recoveryId, Outcome outcome, string detail);
}
