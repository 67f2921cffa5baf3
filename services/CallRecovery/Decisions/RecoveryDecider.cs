using CallRecovery.Hosting;
using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Subscribers;
using Microsoft.Extensions.Options;

namespace CallRecovery.Decisions;

/// <summary>
/// Decides a batch of network events, the one call the consumer makes per batch. Each drop report is classified, then
/// Redis settles duplicates, the parties' facts (opt-outs, emergency calls, a reconnection since the drop) and the
/// callback subscriber's limits in a few pipelined rounds; accepted drops become recoveries through the lifecycle's
/// door, which queues them (or holds them). The batch's other facts then move recoveries through the same door: an
/// emergency call or a redial cancels, a re-attach or traffic in a cell in an outage releases, an outage declared now
/// holds. Every decision is recorded under its call id and counted once; every step is idempotent, so a retried batch
/// or a replayed partition changes nothing, and acts on the recoveries as stored, never on a plan made again.
/// </summary>
/// <remarks>
/// Crash safety between the rounds: a window place is given back before the decision that makes it unneeded is
/// recorded, and a recovery is created before its accepted decision is recorded (a replay finds it, created by the
/// same report, and records the decision then), so no phantom place and no lost recovery are left behind.
/// </remarks>
public sealed partial class RecoveryDecider(
    DropClassifier classifier,
    SwitchRouter router,
    CallbackTiming timing,
    RolloutPolicy rollout,
    OutageGuard outages,
    DecisionStore store,
    SubscriberFacts subscribers,
    RecoveryMoves moves,
    RecoveryIndex index,
    LearnedGrace grace,
    CallRecoveryTelemetry telemetry,
    IOptions<RecoveryPolicyOptions> policy,
    TimeProvider time,
    ILogger<RecoveryDecider> logger,
    CrashPoints? crash = null)
{
    private readonly TimeSpan _clockTolerance = policy.Value.ClockTolerance;

    /// <summary>Decides the events and moves what they change; returns every report's decision as recorded (for the trace).</summary>
    public async Task<IReadOnlyList<SettledDecision>> DecideAsync(IReadOnlyList<IngestedEvent> events)
    {
        var now = time.GetUtcNow();
        // Each drop is classified once; network drops count towards their cell's and node's outage first, so the
        // recoveries of an outage are created held.
        var classified = new Dictionary<CallDrop, Classification>(ReferenceEqualityComparer.Instance);
        foreach (var reported in events.OfType<DropReported>())
        {
            classified[reported.Drop] = classifier.Classify(reported.Drop);
        }

        var outageCount = await outages.CountAsync([.. classified.Where(c => c.Value.IsCandidate).Select(c => c.Key)]).ConfigureAwait(false);
        await grace.PrepareAsync(classified.Where(c => c.Value.IsCandidate).Select(c => c.Key.ServingCell), now).ConfigureAwait(false);
        var batch = Read(events, now, classified, outageCount);
        // A customer's "not for N days" counts for the drops of this batch already.
        await subscribers.NotNowAsync([.. batch.Responses.Where(r => r.NotFor is not null && r.At + r.NotFor!.Value > now).Select(r => (r.Number, r.At + r.NotFor!.Value))], now).ConfigureAwait(false);
        var settled = await SettleAsync(batch, now).ConfigureAwait(false);
        foreach (var decision in settled.Where(d => d.IsNew))
        {
            telemetry.Decided(decision.Record.Reason.ToWireName());
            LogDecision(decision.Record.CallId, decision.Record.EventId, decision.Record.Reason, decision.Record.Detail, decision.Record.RecoveryId);
        }

        // What the batch's facts change for recoveries decided before (and now): each through the door.
        await outages.HoldDeclaredAsync(batch.Outages).ConfigureAwait(false);
        await outages.EndOnTrafficAsync(batch.Traffic).ConfigureAwait(false);
        await ReleaseReachableAsync(batch.Reachable, now).ConfigureAwait(false);
        await RespondAsync(batch.Responses, now).ConfigureAwait(false);
        await CancelOnRedialAsync(batch.Connections, now).ConfigureAwait(false);
        await CancelForPartiesAsync([.. batch.Emergencies.Where(e => subscribers.ProtectedUntil(e) > now).Select(e => e.Number)], "a party is in or after an emergency call", now).ConfigureAwait(false);
        return settled;
    }

    /// <summary>A subscriber's recoveries are no longer wanted (opted out, an emergency call): each of theirs not yet ended is cancelled, at the switch too.</summary>
    public Task CancelForPartiesAsync(IReadOnlyList<string> numbers, string detail, DateTimeOffset now) =>
        CancelOfPartiesAsync([.. numbers.Distinct(StringComparer.Ordinal).Select(n => (n, (CancelReason)new PartyBarred(n, detail)))], now);

    /// <summary>
    /// Cancels the recoveries filed under each party for its reason (the lifecycle decides which it applies to):
    /// every party's index read at once, then one pass through the door; a recovery of two parties is moved once.
    /// Returns how many recoveries each party had filed.
    /// </summary>
    private async Task<IReadOnlyList<int>> CancelOfPartiesAsync(IReadOnlyList<(string Number, CancelReason Reason)> parties, DateTimeOffset now)
    {
        if (parties.Count == 0)
        {
            return [];
        }

        var filed = await Task.WhenAll(parties.Select(p => index.OfPartyAsync(p.Number, now))).ConfigureAwait(false);
        // Whatever the door keeps of these it keeps for the move (another party's number, an answer from before the drop).
        await ApplyInTurnAsync(parties.Zip(filed).SelectMany(p => p.Second.Select(callId => new CancelMove(callId, p.First.Reason)))
            .GroupBy(m => m.CallId, StringComparer.Ordinal), _ => true).ConfigureAwait(false);
        return [.. filed.Select(f => f.Count)];
    }

    /// <summary>
    /// Each group's moves on its recovery one at a time, in order, until the door applies one: a move the door keeps
    /// for a reason of the move's own (<paramref name="givesWay"/>: a party's answer from before the drop, the dropped
    /// call's own connect report) gives way to the group's next; one kept for the recovery's sake (the switch is calling)
    /// ends the group. The groups go side by side, each round one pass through the door.
    /// </summary>
    private async Task<IReadOnlyList<RecoveryTransition>> ApplyInTurnAsync(IEnumerable<IEnumerable<CancelMove>> groups, Func<RecoveryTransition, bool> givesWay)
    {
        var waiting = groups.Select(g => new Queue<CancelMove>(g)).ToList();
        var transitions = new List<RecoveryTransition>();
        while (waiting.Count > 0)
        {
            var round = await moves.ApplyAsync([.. waiting.Select(q => (RecoveryMove)q.Dequeue())]).ConfigureAwait(false);
            transitions.AddRange(round);
            waiting = [.. waiting.Where((q, i) => round[i].Verdict == RecoveryVerdict.Kept && givesWay(round[i]) && q.Count > 0)];
        }

        return transitions;
    }

    /// <summary>
    /// The customers' own answers ("not for N days" was remembered before the batch's drops were decided): each
    /// customer's callbacks of drops before their latest answer are cancelled, at the switch too, wherever it is connected.
    /// </summary>
    private async Task RespondAsync(IReadOnlyList<CustomerResponse> responses, DateTimeOffset now)
    {
        var latest = responses.GroupBy(r => r.Number, StringComparer.Ordinal).Select(g => g.MaxBy(r => r.At)!).ToList();
        var filed = await CancelOfPartiesAsync([.. latest.Select(r => (r.Number, (CancelReason)new CustomerAnswered(r.Number, r.At, r.Channel, r.NotFor)))], now).ConfigureAwait(false);
        for (var i = 0; i < latest.Count; i++)
        {
            LogCustomerAnswered(latest[i].EventId, latest[i].Channel, latest[i].NotFor is { } days ? $"no callbacks for {days.TotalDays:0} day(s)" : "cancel the callbacks queued", filed[i]);
        }
    }

    /// <summary>A batch as read: what to decide, and the facts it carries.</summary>
    private sealed record Batch(
        List<PendingDecision> Pending,
        List<EmergencyCall> Emergencies,
        List<ConnectionReported> Connections,
        List<ReachabilityReported> Reachable,
        List<OutageTraffic> Traffic,
        List<CustomerResponse> Responses,
        OutageCount Outages);

    private Batch Read(IReadOnlyList<IngestedEvent> events, DateTimeOffset now, Dictionary<CallDrop, Classification> classified, OutageCount outageCount)
    {
        var batch = new Batch([], [], [], [], [], [], outageCount);
        foreach (var ingested in events)
        {
            switch (ingested)
            {
                case DropReported { Drop: var drop }:
                    if (drop.AnswerTime is { } answered)
                    {
                        // A call answered there: the cell and node carried traffic then (ends an incident begun before).
                        batch.Traffic.Add(new(new OutageScope(OutageScope.Cell, drop.ServingCell), answered, "a call answered in the cell"));
                        batch.Traffic.Add(new(new OutageScope(OutageScope.Node, drop.SwitchingNode), answered, "a call answered on the node"));
                    }

                    if (classifier.ProtectedParty(drop.Caller, drop.Callee, drop.Emergency) is { } protectedParty)
                    {
                        // The emergency call ended with this report (whatever its cause): protection runs from its end.
                        batch.Emergencies.Add(new EmergencyCall(protectedParty, drop.CallId, drop.AnswerTime ?? drop.DropTime, drop.DropTime));
                    }

                    var classification = classified[drop];
                    var plan = classification.IsCandidate ? router.Plan(drop.SwitchingNode, drop.DropTime, drop.Vulnerable) : null;
                    if (plan is not null && grace.Enabled)
                    {
                        // The grace its cell (or area) taught: long enough for most of the redials seen there.
                        var chosen = grace.ChoiceFor(drop.ServingCell);
                        plan = plan with { DueAt = drop.DropTime + chosen.Grace, Grace = chosen };
                    }

                    if (plan is not null && plan.Deadline <= now)
                    {
                        // A backlog read after an outage: too late to call, and it must not use a place in the window.
                        classification = Classification.Suppress(DecisionReason.Stale, $"the callback deadline passed {(now - plan.Deadline).TotalSeconds:0} s before the decision");
                        plan = null;
                    }

                    if (plan is not null && outageCount.IncidentOfCall.TryGetValue(drop.CallId, out var incident))
                    {
                        plan = plan with { Hold = RecoveryLifecycle.HoldForOutage, Incident = incident };
                    }
                    else if (plan is not null && timing.WaitsForReachability(drop, classification.CallBack))
                    {
                        plan = plan with { Hold = RecoveryLifecycle.HoldForReachability };
                    }

                    var draft = Draft(drop, classification, now);
                    batch.Pending.Add(plan is not null ? new PendingDecision(draft, classification, drop, plan) : new PendingDecision(draft, Drop: drop));
                    break;
                case ConnectionReported connection:
                    if (classifier.ProtectedParty(connection.Caller, connection.Callee, connection.Emergency) is { } protectedCalled)
                    {
                        // An emergency call (or the emergency centre calling back) under way: protection until it is reported ended.
                        batch.Emergencies.Add(new EmergencyCall(protectedCalled, connection.CallId, connection.AnswerTime, null));
                    }
                    else
                    {
                        batch.Connections.Add(connection);
                    }

                    batch.Traffic.Add(new(new OutageScope(OutageScope.Cell, connection.ServingCell), connection.AnswerTime, "a call connected in the cell"));
                    batch.Traffic.Add(new(new OutageScope(OutageScope.Node, connection.SwitchingNode), connection.AnswerTime, "a call connected on the node"));
                    break;
                case ReachabilityReported subscriber:
                    batch.Reachable.Add(subscriber);
                    break;
                case CustomerResponse response:
                    batch.Responses.Add(response);
                    break;
                case CellInServiceReported cell:
                    batch.Traffic.Add(new(new OutageScope(OutageScope.Cell, cell.ServingCell), cell.At, "the cell was reported in service", Reported: true));
                    batch.Traffic.Add(new(new OutageScope(OutageScope.Node, cell.SwitchingNode), cell.At, "a cell of the node was reported in service", Reported: true));
                    break;
                case RejectedEvent { CallId.Length: > 0 } rejected:
                    // Filed under its call so an engineer asking about the call sees why nothing happened.
                    batch.Pending.Add(new PendingDecision(new DecisionRecord
                    {
                        EventId = rejected.EventId.Length > 0 ? rejected.EventId : "invalid:" + rejected.ErrorCode,
                        CallId = rejected.CallId,
                        Reason = DecisionReason.Invalid,
                        Detail = $"{rejected.ErrorCode}: {rejected.Message}",
                        DecidedAt = now,
                    }));
                    break;
            }
        }

        return batch;
    }

    /// <summary>
    /// The rounds: (1) what is recorded already, each call's recovery, the parties' facts and reconnections, emergency
    /// protections and the lookup index; (2) the callback party's limits (reserving a place); (3) places given back,
    /// recoveries created (and queued, through the door); (4) decisions recorded.
    /// </summary>
    private async Task<IReadOnlyList<SettledDecision>> SettleAsync(Batch batch, DateTimeOffset now)
    {
        var pending = batch.Pending;
        var candidates = Enumerable.Range(0, pending.Count).Where(i => pending[i].Candidate is not null).ToList();
        if (batch.Emergencies.Count > 0)
        {
            // Rare: written before the parties' facts are read, so a drop in the same batch after an emergency call sees it.
            await subscribers.ProtectAsync(batch.Emergencies, now).ConfigureAwait(false);
        }

        var recorded = store.RecordedAsync([.. candidates.Select(i => pending[i].Draft)]);
        var stored = moves.ReadAsync([.. candidates.Select(i => pending[i].Draft.CallId)]);
        var facts = subscribers.FactsAsync([.. candidates.SelectMany(i => new[] { pending[i].Candidate!.CallBack, pending[i].Candidate!.OtherParty })], now, callBackPairs: true);
        var reconnected = subscribers.ConnectedSinceAsync([.. candidates.Select(i => (pending[i].Candidate!.CallBack, pending[i].Candidate!.OtherParty, pending[i].Drop!.DropTime))]);
        var indexed = subscribers.IndexCallsAsync([.. pending.Select(p => p.Drop).OfType<CallDrop>().SelectMany(d => new[] { (d.Caller, d.CallId, d.DropTime), (d.Callee, d.CallId, d.DropTime) })]);
        await Task.WhenAll(recorded, stored, facts, reconnected, indexed).ConfigureAwait(false);

        var decisions = new DecisionRecord?[pending.Count];
        var replayed = new bool[pending.Count];
        var flaggedByCrm = new bool[pending.Count];
        var releases = new List<(string Number, string CallId)>();
        var open = new List<int>();
        for (var i = 0; i < pending.Count; i++)
        {
            if (pending[i].Candidate is null)
            {
                decisions[i] = pending[i].Draft;
            }
        }

        for (var n = 0; n < candidates.Count; n++)
        {
            var i = candidates[n];
            var (candidate, draft) = (pending[i].Candidate!, pending[i].Draft);
            var (callBack, other) = (facts.Result[2 * n], facts.Result[(2 * n) + 1]);
            flaggedByCrm[i] = callBack.Vulnerable;
            // An invalid note is no decision: the report was dead-lettered, and is read again now (a redrive) and decided.
            if (recorded.Result[n] is { Reason: not DecisionReason.Invalid } prior)
            {
                decisions[i] = prior;
                replayed[i] = true;
            }
            else if (stored.Result[n]?.Record is { } existing && existing.EventId != draft.EventId)
            {
                Duplicate(i, existing);
            }
            else if (stored.Result[n] is not null)
            {
                // Created by this very report before a failure kept its decision from being recorded: accepted.
                open.Add(i);
            }
            else if (Reconnection(pending[i], reconnected.Result[n], batch.Connections) is { } detail)
            {
                Suppress(i, DecisionReason.ReconnectedAlready, detail);
            }
            else if (callBack.NotNow)
            {
                Suppress(i, DecisionReason.CustomerNotNow, "the customer asked for no callbacks for a while");
            }
            else if (callBack.OptedOut || callBack.Protected)
            {
                Suppress(i, callBack.OptedOut ? DecisionReason.OptedOut : DecisionReason.EmergencyProtection, string.Empty);
            }
            else if (other.OptedOut || other.Protected)
            {
                var reason = other.OptedOut ? DecisionReason.OptedOut : DecisionReason.EmergencyProtection;
                Suppress(i, reason, "the party to reconnect: " + reason.ToWireName());
            }
            else
            {
                open.Add(i);
            }
        }

        // Round 2: the callback party's limits, reserving a place (again, for a replay: idempotent).
        var admitted = await store.AdmitAsync([.. open.Select(i => (pending[i].Candidate!.CallBack, pending[i].Draft.CallId, pending[i].Drop!.DropTime))], now).ConfigureAwait(false);
        var creates = new List<int>();
        for (var n = 0; n < open.Count; n++)
        {
            var i = open[n];
            if (admitted[n].Reason == DecisionReason.Accepted)
            {
                creates.Add(i);
            }
            else
            {
                decisions[i] = pending[i].Draft with { Reason = admitted[n].Reason, Detail = admitted[n].Detail };
            }
        }

        // (The crash tests: decided and admitted, nothing created yet.)
        if (creates.Count > 0)
        {
            crash?.Reached(CrashPoints.Decided);
        }

        // Round 3: places given back first, then the recoveries created (the first accepted report of a call wins) and queued.
        await store.ReleaseAsync(releases).ConfigureAwait(false);
        var created = await moves.CreateAsync([.. creates.Select(i => NewRecovery(pending[i], now, flaggedByCrm[i]))]).ConfigureAwait(false);
        var lost = new List<(string Number, string CallId)>();
        for (var n = 0; n < creates.Count; n++)
        {
            var i = creates[n];
            var recovery = created[n].Recovery!;
            if (recovery.EventId == pending[i].Draft.EventId)
            {
                decisions[i] = pending[i].Draft with { RecoveryId = recovery.RecoveryId };
                if (recovery.Vulnerable && created[n].Move is ScheduleMove { Created: true })
                {
                    telemetry.VulnerableRecovery(pending[i].Drop!.Vulnerable ? "event" : "crm");
                }
            }
            else
            {
                // Another report of the call won meanwhile (maybe naming the other party to call back).
                if (recovery.CallBack != pending[i].Candidate!.CallBack)
                {
                    lost.Add((pending[i].Candidate!.CallBack, pending[i].Draft.CallId));
                }

                decisions[i] = DuplicateOf(pending[i].Draft, recovery);
            }
        }

        await store.ReleaseAsync(lost).ConfigureAwait(false);
        var learnt = created.Where(t => t.Move is ScheduleMove { Created: true } && t.Recovery is { Grace: not null }).Select(t => t.Recovery!).ToList();
        await grace.CountDropsAsync([.. learnt.Select(r => r.ServingCell)]).ConfigureAwait(false);
        foreach (var recovery in learnt)
        {
            telemetry.GraceChosen(recovery.Grace!.Value, recovery.GraceBasis);
        }

        await SettleHeldAsync([.. created.Select(t => t.Recovery!).Where(r => r.State == RecoveryState.Held)]).ConfigureAwait(false);

        // A replayed acceptance: its recovery as stored is queued (again, idempotently): a crash may have come between the two.
        var replayedAccepted = Enumerable.Range(0, pending.Count).Where(i => replayed[i] && decisions[i]!.Reason == DecisionReason.Accepted).Select(i => pending[i].Draft.CallId).ToList();
        await moves.ApplyAsync([.. replayedAccepted.Select(callId => (RecoveryMove)new ScheduleMove(callId, Created: false))]).ConfigureAwait(false);

        // Round 4: the decisions recorded (the first decision of a report wins).
        var toRecord = Enumerable.Range(0, pending.Count).Where(i => !replayed[i]).ToList();
        var recordedNow = await store.RecordAsync([.. toRecord.Select(i => decisions[i]!)]).ConfigureAwait(false);
        var settled = new SettledDecision[pending.Count];
        for (var n = 0; n < toRecord.Count; n++)
        {
            settled[toRecord[n]] = new SettledDecision(recordedNow[n].Record, recordedNow[n].IsNew, pending[toRecord[n]]);
        }

        for (var i = 0; i < pending.Count; i++)
        {
            settled[i] ??= new SettledDecision(decisions[i]!, IsNew: false, pending[i]);
        }

        return settled;

        // A candidate that will not be recovered: its place (if an earlier, interrupted try reserved one) goes back first.
        void Suppress(int i, DecisionReason reason, string detail)
        {
            releases.Add((pending[i].Candidate!.CallBack, pending[i].Draft.CallId));
            decisions[i] = pending[i].Draft with { Reason = reason, Detail = detail };
        }

        // The call already has a recovery: a place under this call id is legitimately held only by that recovery's callback party.
        void Duplicate(int i, RecoveryRecord existing)
        {
            if (!string.Equals(existing.CallBack, pending[i].Candidate!.CallBack, StringComparison.Ordinal))
            {
                releases.Add((pending[i].Candidate!.CallBack, pending[i].Draft.CallId));
            }

            decisions[i] = DuplicateOf(pending[i].Draft, existing);
        }
    }

    private static DecisionRecord DuplicateOf(DecisionRecord draft, RecoveryRecord existing) =>
        draft with { Reason = DecisionReason.Duplicate, Detail = "the call already has recovery " + existing.RecoveryId, RecoveryId = existing.RecoveryId };

    /// <summary>
    /// Recoveries created held: one waiting for its customer's coverage goes at once if they were reachable since the
    /// drop; one held by an incident that ended before it was created is released (its end could not find it).
    /// </summary>
    private async Task SettleHeldAsync(IReadOnlyList<RecoveryRecord> held)
    {
        var waiting = held.Where(r => r.Hold == RecoveryLifecycle.HoldForReachability).ToList();
        var reachable = await subscribers.ReachableAtAsync([.. waiting.Select(r => r.CallBack)]).ConfigureAwait(false);
        await moves.ApplyAsync([.. waiting.Select((r, n) => (Recovery: r, At: reachable[n])).Where(w => w.At is not null)
            .Select(w => (RecoveryMove)new ReachableRelease(w.Recovery.CallId, w.Recovery.CallBack, w.At!.Value))]).ConfigureAwait(false);
        foreach (var byIncident in held.Where(r => r.Hold == RecoveryLifecycle.HoldForOutage).GroupBy(r => r.Incident, StringComparer.Ordinal))
        {
            await outages.ReleaseIfEndedAsync(byIncident.Key, [.. byIncident.Select(r => r.CallId)]).ConfigureAwait(false);
        }
    }

    /// <summary>Subscribers reachable again: remembered (for recoveries decided after this), then their recoveries waiting for coverage are released.</summary>
    private async Task ReleaseReachableAsync(IReadOnlyList<ReachabilityReported> reachable, DateTimeOffset now)
    {
        var latest = reachable.GroupBy(r => r.Number, StringComparer.Ordinal).Select(g => (Number: g.Key, At: g.Max(r => r.At))).ToList();
        if (latest.Count == 0)
        {
            return;
        }

        await subscribers.MarkReachableAsync(latest).ConfigureAwait(false);
        foreach (var (number, at) in latest)
        {
            var recoveries = await index.OfPartyAsync(number, now).ConfigureAwait(false);
            await moves.ApplyAsync([.. recoveries.Select(callId => (RecoveryMove)new ReachableRelease(callId, number, at))]).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Remembers that two parties reached each other, then cancels the recoveries between them not yet accepted. The
    /// connection is written before the recoveries are read, and the dispatch step reads it before it sends: a redial
    /// and a callback never miss each other.
    /// </summary>
    private async Task CancelOnRedialAsync(IReadOnlyList<ConnectionReported> connected, DateTimeOffset now)
    {
        if (connected.Count == 0)
        {
            return;
        }

        await subscribers.RecordConnectionsAsync([.. connected.Select(c => new PartiesConnected(c.CallId, c.Caller, c.Callee, c.AnswerTime))], now).ConfigureAwait(false);
        // Every recovery between the two is filed under each of them: the caller's open recoveries are read (most
        // people have none), each caller once, all at once; then the door, which cancels only those between the two.
        // Per recovery and pair the earliest answer first (what the grace learns from); one the door keeps (the dropped
        // call's own connect report, or a call before the drop, in the same batch) gives way to the pair's next.
        var ordered = connected.OrderBy(c => c.AnswerTime).ToList();
        var callers = ordered.Select(c => c.Caller).Distinct(StringComparer.Ordinal).ToList();
        var filed = callers.Zip(await Task.WhenAll(callers.Select(number => index.OfPartyAsync(number, now))).ConfigureAwait(false))
            .ToDictionary(f => f.First, f => f.Second, StringComparer.Ordinal);
        var cancelled = await ApplyInTurnAsync(ordered.SelectMany(c => filed[c.Caller].Select(callId => new CancelMove(callId, AsRedial(c))))
            .GroupBy(m => (m.CallId, ((Redialled)m.Reason).Pair)),
            t => t is { Recovery: { } r, Move: CancelMove { Reason: Redialled redial } } && !redial.IsAfterDrop(r.CallId, r.DropTime, _clockTolerance)).ConfigureAwait(false);
        var redials = new List<(string Cell, TimeSpan AfterDrop)>();
        foreach (var t in cancelled.Where(t => t.Verdict == RecoveryVerdict.Applied))
        {
            // What the grace learns from (recoveries whose drop it counted, decided while learning was on), and whether
            // the callback had gone out already (a redial the grace did not wait for).
            if (t is { Recovery: { Grace: not null } recovery, Move: CancelMove { Reason: Redialled redial } })
            {
                redials.Add((recovery.ServingCell, redial.AnsweredAt - recovery.DropTime));
            }

            telemetry.RedialCancelled(callbackSent: t.From is not (RecoveryState.Pending or RecoveryState.Held));
        }

        await grace.CountRedialsAsync(redials).ConfigureAwait(false);
    }

    /// <summary>Did the two parties reach each other after the drop (a call-connected event, remembered in Redis or in this batch)?</summary>
    private string? Reconnection(PendingDecision pending, IReadOnlyList<string> remembered, IReadOnlyList<ConnectionReported> batchConnections)
    {
        var drop = pending.Drop!;
        var candidate = pending.Candidate!;
        if (remembered.Any(callId => callId != drop.CallId)
            || batchConnections.Select(AsRedial).Any(c => c.Between(candidate.CallBack, candidate.OtherParty) && c.IsAfterDrop(drop.CallId, drop.DropTime, _clockTolerance)))
        {
            return "the parties reached each other after the drop";
        }

        return null;
    }

    private static Redialled AsRedial(ConnectionReported c) => new(c.CallId, c.AnswerTime, c.Caller, c.Callee);

    /// <summary>
    /// The recovery a decision creates; live or in shadow by the rollout in force now (Rollout:Mode, the canary); a
    /// vulnerable customer's (flagged on the drop or by CRM) first in its switch's queue, with their deadline.
    /// </summary>
    private RecoveryRecord NewRecovery(PendingDecision pending, DateTimeOffset now, bool flaggedByCrm)
    {
        var drop = pending.Drop!;
        var plan = pending.Plan!;
        var vulnerable = drop.Vulnerable || flaggedByCrm;
        var deadline = router.DeadlineOf(drop.DropTime, vulnerable);
        return new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(drop.CallId),
            CallId = drop.CallId,
            State = plan.Hold.Length > 0 ? RecoveryState.Held : RecoveryState.Pending,
            Hold = plan.Hold,
            Incident = plan.Incident,
            HeldAt = plan.Hold.Length > 0 ? now : null,
            CallBack = pending.Candidate!.CallBack,
            OtherParty = pending.Candidate.OtherParty,
            DropTime = drop.DropTime,
            AcceptedAt = now,
            EventId = drop.EventId,
            Cause = drop.Cause.Value,
            ServingCell = drop.ServingCell,
            SwitchingNode = drop.SwitchingNode,
            AccessTechnology = drop.AccessTechnology.ToString(),
            SwitchId = plan.SwitchId,
            DueAt = plan.DueAt,
            Deadline = deadline,
            FiledUntil = index.FiledUntilFor(deadline),
            Vulnerable = vulnerable,
            Grace = plan.Grace?.Grace,
            GraceBasis = plan.Grace is { } chosen ? $"{chosen.Basis}: {chosen.Why}" : string.Empty,
            TraceParent = drop.TraceParent,
            Shadow = rollout.IsShadow(drop.SwitchingNode, drop.ServingCell, pending.Candidate.CallBack),
        };
    }

    private static DecisionRecord Draft(CallDrop drop, Classification classification, DateTimeOffset now) => new()
    {
        EventId = drop.EventId,
        CallId = drop.CallId,
        Reason = classification.Reason,
        Detail = classification.Detail,
        DecidedAt = now,
        Cause = drop.Cause.Value,
        DroppedParty = drop.DroppedParty.ToString(),
        DropTime = drop.DropTime,
        AnsweredSeconds = drop.AnsweredDuration?.TotalSeconds,
        ServingCell = drop.ServingCell,
        SwitchingNode = drop.SwitchingNode,
        Reporter = drop.Reporter,
    };

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Call {CallId} report {EventId}: {Reason} {Detail} (recovery {RecoveryId})")]
    private partial void LogDecision(string callId, string eventId, DecisionReason reason, string detail, string? recoveryId);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Customer answered ({EventId}, {Channel}): {Answer}; {Recoveries} recoveries of theirs looked at")]
    private partial void LogCustomerAnswered(string eventId, string channel, string answer, int recoveries);
}
