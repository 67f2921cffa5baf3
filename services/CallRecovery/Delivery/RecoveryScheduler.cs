using CallRecovery.Contracts.V1;
using Microsoft.Extensions.Options;
using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Outcomes;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.Delivery;

/// <summary>Two parties reached each other in this call (a call-connected event).</summary>
public sealed record ConnectionSeen(string CallId, string Caller, string Callee, DateTimeOffset AnswerTime);

/// <summary>
/// The delivery stage's hold on the lifecycle: it queues accepted recoveries, ends the ones no longer wanted (a
/// redial, an opt-out or emergency call, a passed deadline), and is the one place that carries out what a
/// transition emits (<see cref="RecoveryLifecycle"/>): outcome events, the switch queue, connection windows,
/// cancel commands and metrics. Whoever moves a recovery hands the transition here, so no exit path can forget
/// part of the bookkeeping.
/// </summary>
public sealed partial class RecoveryScheduler(
    RecoveryStore store,
    OutcomePublisher outcomes,
    OutageGuard outages,
    SwitchConnections connections,
    DispatchSignal signal,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    TimeProvider time,
    ILogger<RecoveryScheduler> logger)
{
    private readonly SwitchingOptions _options = options.Value;

    /// <summary>
    /// Queues accepted recoveries (replays queue nothing twice) and wakes the replica serving each switch when its
    /// first one is due. A held recovery queues only its deadline; it is then filed where its release will find it,
    /// and released at once if what it waits for happened meanwhile (the writers of those facts write first and then
    /// look for held recoveries, so one of the two always sees the other).
    /// </summary>
    public async Task ScheduleAsync(IReadOnlyList<ScheduledRecovery> recoveries)
    {
        await store.ScheduleAsync(recoveries).ConfigureAwait(false);
        foreach (var bySwitch in recoveries.Where(r => r.Hold.Length == 0).GroupBy(r => r.SwitchId, StringComparer.Ordinal))
        {
            await AnnounceDueAsync(bySwitch.Key, bySwitch.Min(r => r.DueAt)).ConfigureAwait(false);
        }

        var now = time.GetUtcNow();
        var waiting = recoveries.Where(r => r.Hold == RecoveryLifecycle.HoldForReachability).ToList();
        if (waiting.Count > 0)
        {
            telemetry.Held(RecoveryLifecycle.HoldForReachability, waiting.Count);
        }

        await Task.WhenAll(waiting.Select(async r =>
        {
            if (await store.ReachableAtAsync(r.CallBack).ConfigureAwait(false) is { } reachableAt && reachableAt >= r.DropTime)
            {
                await ReleaseAsync(await store.ReleaseReachableAsync(r.CallId, r.CallBack, reachableAt, now).ConfigureAwait(false)).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);

        foreach (var byIncident in recoveries.Where(r => r.Hold == RecoveryLifecycle.HoldForOutage).GroupBy(r => r.Incident, StringComparer.Ordinal))
        {
            telemetry.Held(RecoveryLifecycle.HoldForOutage, byIncident.Count());
            if (!await outages.FileHeldAsync(byIncident.Key, [.. byIncident.Select(r => r.CallId)]).ConfigureAwait(false))
            {
                // The incident ended between the count and now: nothing will release these but us.
                await Task.WhenAll(byIncident.Select(async r => await ReleaseAsync(await store.ReleaseFromIncidentAsync(r.CallId, byIncident.Key, now).ConfigureAwait(false)).ConfigureAwait(false))).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Outages declared now: the recoveries of their scope decided before (in the window, not yet sent) are held too.</summary>
    public async Task HoldForOutagesAsync(OutageCount count)
    {
        var now = time.GetUtcNow();
        foreach (var (incidentId, earlier) in count.Declared)
        {
            var held = new List<string>();
            await Task.WhenAll(earlier.Select(async callId =>
            {
                var transition = await store.HoldAsync(callId, incidentId, now).ConfigureAwait(false);
                if (transition.Verdict == RecoveryVerdict.Applied)
                {
                    lock (held)
                    {
                        held.Add(callId);
                        if (transition.From == RecoveryState.Pending)
                        {
                            // Held now; the batch that declared the incident created its own recoveries held (counted when queued).
                            telemetry.Held(RecoveryLifecycle.HoldForOutage);
                        }
                    }
                }

                await CarryOutAsync(transition).ConfigureAwait(false);
            })).ConfigureAwait(false);
            if (!await outages.FileHeldAsync(incidentId, held).ConfigureAwait(false))
            {
                await Task.WhenAll(held.Select(async callId => await ReleaseAsync(await store.ReleaseFromIncidentAsync(callId, incidentId, now).ConfigureAwait(false)).ConfigureAwait(false))).ConfigureAwait(false);
            }

            // Only now: until then a retried batch declares the incident again and does all this again.
            await outages.MarkAnnouncedAsync(incidentId).ConfigureAwait(false);
        }
    }

    /// <summary>Traffic from cells and nodes: ends the outages it shows are over, and releases what they held.</summary>
    public async Task ReleaseOnTrafficAsync(IReadOnlyList<OutageTraffic> traffic)
    {
        var now = time.GetUtcNow();
        foreach (var (incidentId, held) in await outages.TrafficAsync(traffic).ConfigureAwait(false))
        {
            await Task.WhenAll(held.Select(async callId => await ReleaseAsync(await store.ReleaseFromIncidentAsync(callId, incidentId, now).ConfigureAwait(false)).ConfigureAwait(false))).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Subscribers reachable again: remembered (for recoveries decided after this), then their recoveries waiting
    /// for coverage are released, due at once (or when their grace period ends).
    /// </summary>
    public async Task ReleaseReachableAsync(IReadOnlyList<ReachabilityReported> reachable)
    {
        var now = time.GetUtcNow();
        var latest = reachable.GroupBy(r => r.Number, StringComparer.Ordinal).Select(g => (Number: g.Key, At: g.Max(r => r.At))).ToList();
        await store.MarkReachableAsync(latest, _options.CallbackDeadline + TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        await Task.WhenAll(latest.Select(async subscriber =>
        {
            foreach (var callId in await store.CallsOfSinceAsync(subscriber.Number, now - _options.CallbackDeadline).ConfigureAwait(false))
            {
                await ReleaseAsync(await store.ReleaseReachableAsync(callId, subscriber.Number, subscriber.At, now).ConfigureAwait(false)).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
    }

    private async Task ReleaseAsync(RecoveryTransition transition)
    {
        if (transition.Verdict == RecoveryVerdict.Applied && transition.From == RecoveryState.Held && transition.Recovery is { } recovery)
        {
            telemetry.Released(recovery.Incident.Length > 0 ? RecoveryLifecycle.HoldForOutage : RecoveryLifecycle.HoldForReachability);
            using var span = recovery.StartSpan("release");
            span?.SetTag(RecoveryTracing.Incident, recovery.Incident);
        }

        await CarryOutAsync(transition).ConfigureAwait(false);
    }

    /// <summary>A command of <paramref name="switchId"/> is due then: wake this replica's dispatch if it serves the switch, and tell the others.</summary>
    public Task AnnounceDueAsync(string switchId, DateTimeOffset dueAt)
    {
        DueHere(switchId, dueAt);
        return store.AnnounceDueAsync(switchId, dueAt);
    }

    /// <summary>Wakes this replica's dispatch when <paramref name="dueAt"/> comes, if it serves <paramref name="switchId"/>.</summary>
    public void DueHere(string switchId, DateTimeOffset dueAt)
    {
        if (connections.Of(switchId).Count > 0)
        {
            signal.DueAt(dueAt);
        }
    }

    /// <summary>
    /// Remembers that two parties reached each other and cancels the recoveries between them that are not yet
    /// accepted. The connection is written before the recoveries are read, and the dispatch step reads it after
    /// marking a command sent: a redial and a callback never miss each other.
    /// </summary>
    public async Task CancelOnRedialAsync(IReadOnlyList<ConnectionSeen> connected)
    {
        var now = time.GetUtcNow();
        await Task.WhenAll(connected.Select(async c =>
        {
            var recoveries = await store.RecordConnectionAsync(c.Caller, c.Callee, c.CallId, c.AnswerTime, now - _options.CallbackDeadline, _options.CallbackDeadline + TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            foreach (var callId in recoveries)
            {
                await CarryOutAsync(await store.CancelForRedialAsync(callId, now, c.CallId, c.AnswerTime).ConfigureAwait(false)).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>
    /// A party can no longer be called (opted out, or in an emergency call): cancels every recovery of theirs that
    /// is not yet accepted, as callback party or as the party to reconnect. Called after the fact is written.
    /// </summary>
    public async Task CancelForPartyAsync(string number, string detail)
    {
        var now = time.GetUtcNow();
        foreach (var callId in await store.CallsOfSinceAsync(number, now - _options.CallbackDeadline).ConfigureAwait(false))
        {
            await CarryOutAsync(await store.CancelForPartyAsync(callId, now, number, detail).ConfigureAwait(false)).ConfigureAwait(false);
        }
    }

    /// <summary>The dispatch step found a reason not to call: the recovery ends cancelled, nothing is sent.</summary>
    public async Task CancelAsync(string callId, string detail) =>
        await CarryOutAsync(await store.CancelAsync(callId, time.GetUtcNow(), detail).ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>
    /// A delayed callback came due in the customer's quiet hours, which end at <paramref name="quietEnd"/>: it waits
    /// for their end, or, when they last past its deadline, ends with the quiet-hours outcome. Nothing was sent.
    /// </summary>
    public async Task PutOffForQuietHoursAsync(RecoveryRecord recovery, DateTimeOffset quietEnd, string zone)
    {
        var now = time.GetUtcNow();
        var detail = $"the customer's quiet hours ({zone} local time) last until {quietEnd:yyyy-MM-dd HH:mm} UTC";
        if (quietEnd < recovery.Deadline)
        {
            telemetry.CallbackDeferred(recovery.SwitchId);
            await CarryOutAsync(await store.DeferAsync(recovery.CallId, quietEnd, detail, now).ConfigureAwait(false)).ConfigureAwait(false);
        }
        else
        {
            await CarryOutAsync(await store.ExpireForQuietHoursAsync(recovery.CallId, now, detail + ", past the deadline").ConfigureAwait(false)).ConfigureAwait(false);
        }
    }

    /// <summary>Expires a command whose deadline passed (the sweep leased it to us).</summary>
    public async Task ExpireAsync(string switchId, string callId)
    {
        var transition = await store.ExpireAsync(callId, time.GetUtcNow()).ConfigureAwait(false);
        if (transition.Verdict == RecoveryVerdict.Unknown)
        {
            // Gone from Redis (retention): nothing left to deliver.
            await store.SettleEntriesAsync(switchId, callId).ConfigureAwait(false);
            return;
        }

        await CarryOutAsync(transition).ConfigureAwait(false);
    }

    /// <summary>
    /// Does what the lifecycle table says the transition emits. Outcome events go out before the command leaves its
    /// queue, so a crash in between publishes again rather than never. <paramref name="via"/> is the connection the
    /// switch spoke on (an acceptance or report), <paramref name="stage"/> the stage it reported.
    /// </summary>
    public async Task CarryOutAsync(RecoveryTransition transition, SwitchConnection? via = null, Stage stage = Stage.Unspecified, DateTimeOffset? stageAt = null, uint acceptedAttempt = 0)
    {
        if (transition.Recovery is not { } recovery)
        {
            return;
        }

        var effects = transition.Effects;
        if (effects.HasFlag(RecoveryEffects.PublishStage) && stage != Stage.Unspecified)
        {
            using var span = recovery.StartSpan("progress");
            span?.SetTag(RecoveryTracing.Stage, stage.ToString());
            await outcomes.PublishStageAsync(recovery, stage, stageAt ?? time.GetUtcNow()).ConfigureAwait(false);
        }

        var outcome = OutcomeOf(recovery);
        if (effects.HasFlag(RecoveryEffects.PublishOutcome) && transition.Trigger == RecoveryTrigger.Retry && recovery.EarlierCallbacks is [.., var ended])
        {
            // The outcome of the callback before, not the recovery's: published as such, the next callback queued below.
            var tried = Enum.TryParse<Outcome>(ended.Outcome, out var reported) ? reported : Outcome.Unspecified;
            using var span = recovery.StartSpan("retry");
            span?.SetTag(RecoveryTracing.Outcome, tried.ToString());
            await outcomes.PublishRetriedAsync(recovery, ended, tried).ConfigureAwait(false);
            if (transition.Verdict == RecoveryVerdict.Applied)
            {
                telemetry.CallbackRetried(tried.ToString(), recovery.SwitchId);
                LogRetry(recovery.RecoveryId, tried, ended.Number, recovery.DueAt);
            }
        }
        else if (effects.HasFlag(RecoveryEffects.PublishOutcome) && outcome != Outcome.Unspecified)
        {
            using var span = recovery.StartSpan(recovery.State switch { RecoveryState.Expired => "expire", RecoveryState.Cancelled => "cancel", _ => "outcome" });
            span?.SetTag(RecoveryTracing.Outcome, outcome.ToString()).SetTag(RecoveryTracing.Detail, recovery.Detail);
            await outcomes.PublishOutcomeAsync(recovery, outcome).ConfigureAwait(false);
        }

        if (effects.HasFlag(RecoveryEffects.LeaveQueue))
        {
            await store.SettleEntriesAsync(recovery.SwitchId, recovery.CallId).ConfigureAwait(false);
        }

        if (effects.HasFlag(RecoveryEffects.Park))
        {
            await store.ParkAsync(recovery.SwitchId, recovery.CallId).ConfigureAwait(false);
        }

        if (effects.HasFlag(RecoveryEffects.Enqueue) && transition.Verdict == RecoveryVerdict.Applied)
        {
            await store.RescheduleAsync(recovery.SwitchId, recovery.CallId, recovery.DueAt, recovery.Deadline).ConfigureAwait(false);
            await AnnounceDueAsync(recovery.SwitchId, recovery.DueAt).ConfigureAwait(false);
        }
        else if (effects.HasFlag(RecoveryEffects.Enqueue) && transition.Verdict == RecoveryVerdict.Unchanged)
        {
            // The move was made before (a repeated release, a resent outcome): queued if it was lost, nothing more.
            await store.EnsureQueuedAsync(recovery.SwitchId, recovery.CallId, recovery.DueAt, recovery.Deadline).ConfigureAwait(false);
            await AnnounceDueAsync(recovery.SwitchId, recovery.DueAt).ConfigureAwait(false);
        }

        if (effects.HasFlag(RecoveryEffects.Requeue))
        {
            var backoff = transition.Trigger == RecoveryTrigger.Reject ? _options.RejectionBackoff : TimeSpan.Zero;
            var dueAt = time.GetUtcNow() + backoff;
            await store.RequeueAsync(recovery.SwitchId, [recovery.CallId], dueAt).ConfigureAwait(false);
            await AnnounceDueAsync(recovery.SwitchId, dueAt).ConfigureAwait(false);
        }

        var cancelAt = new List<SwitchConnection>();
        if (transition.Verdict == RecoveryVerdict.Superseded && via is not null)
        {
            // Another attempt was accepted first: this connection must not place it.
            via.Release(recovery.CallId);
            cancelAt.Add(via);
        }
        else if (effects.HasFlag(RecoveryEffects.ReleaseWindow) || effects.HasFlag(RecoveryEffects.CancelAtSwitch))
        {
            var holders = connections.Release(recovery.CallId);
            if (effects.HasFlag(RecoveryEffects.CancelAtSwitch))
            {
                cancelAt.AddRange(holders);
                if (via is not null && !cancelAt.Contains(via))
                {
                    cancelAt.Add(via);
                }
            }
            else if (transition.Trigger == RecoveryTrigger.Accept && acceptedAttempt > 0 && acceptedAttempt < recovery.Attempts)
            {
                // An older attempt's acceptance won: the newer one still out here is withdrawn.
                cancelAt.AddRange(holders.Where(h => h != via));
            }
        }

        foreach (var connection in cancelAt)
        {
            connection.TrySend(new ServiceMessage { Cancel = new CancelCommand { RecoveryId = recovery.RecoveryId, Reason = CancelReason(recovery), CallbackAttempt = (uint)recovery.CallbackAttempt } });
        }

        if (effects.HasFlag(RecoveryEffects.CountOutcome) && outcome != Outcome.Unspecified)
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
        // Expired for a reason of its own (an outage, an unreachable customer, quiet hours), or plainly.
        RecoveryState.Expired => Enum.TryParse<Outcome>(recovery.Outcome, out var ended) && ended is not (Outcome.Unspecified or Outcome.Reconnected) ? ended : Outcome.Expired,
        RecoveryState.Cancelled => Outcome.Cancelled,
        RecoveryState.Completed when Enum.TryParse<Outcome>(recovery.Outcome, out var reported) => reported,
        _ => Outcome.Unspecified,
    };

    private static string CancelReason(RecoveryRecord recovery) =>
        RecoveryLifecycle.IsFinal(recovery.State) && recovery.Detail.Length > 0 ? recovery.Detail : "the recovery no longer needs this callback";

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Recovery {RecoveryId} callback {Callback} ended {Outcome}; the next callback is due at {DueAt:o}")]
    private partial void LogRetry(string recoveryId, Outcome outcome, int callback, DateTimeOffset dueAt);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Recovery {RecoveryId} {Outcome}: {Detail}")]
    private partial void LogEnded(string recoveryId, Outcome outcome, string detail);
}
