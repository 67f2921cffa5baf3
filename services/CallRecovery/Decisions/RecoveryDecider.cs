using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.Decisions;

/// <summary>
/// What a batch decided, and the facts it carried: who is now under emergency protection, which parties reached
/// each other, who is reachable again, where traffic flows (ending outages), and the outages declared now.
/// </summary>
public sealed record DecidedBatch(
    IReadOnlyList<SettledDecision> Settled,
    IReadOnlyList<EmergencyCall> Protected,
    IReadOnlyList<ConnectionReported> Connections,
    IReadOnlyList<ReachabilityReported> Reachable,
    IReadOnlyList<OutageTraffic> Traffic,
    OutageCount Outages)
{
    /// <summary>The recoveries this batch accepted, for their switch's queue (held ones queue only their deadline).</summary>
    public IReadOnlyList<ScheduledRecovery> Scheduled =>
        [.. Settled
            .Where(d => d.Record.Reason == DecisionReason.Accepted && d.Pending.Plan is not null && d.Pending.Candidate is not null)
            .Select(d => new ScheduledRecovery(d.Record.CallId, d.Pending.Plan!.SwitchId, d.Pending.Plan.DueAt, d.Pending.Plan.Deadline, d.Pending.Candidate!.CallBack, d.Pending.Candidate.OtherParty,
                d.Pending.Plan.Hold, d.Pending.Plan.Incident, d.Pending.Drop!.DropTime))];
}

/// <summary>
/// Decides a batch of events: classifies each report, then lets Redis settle duplicates, limits and
/// opt-outs in a few pipelined rounds. Every decision is recorded under its call id and counted once.
/// </summary>
public sealed partial class RecoveryDecider(DropClassifier classifier, SwitchRouter router, CallbackTiming timing, OutageGuard outages, DecisionStore store, CallRecoveryTelemetry telemetry, TimeProvider time, ILogger<RecoveryDecider> logger)
{
    public async Task<DecidedBatch> DecideAsync(IReadOnlyList<IngestedEvent> events)
    {
        var now = time.GetUtcNow();
        var pending = new List<PendingDecision>(events.Count);
        var emergencies = new List<EmergencyCall>();
        var connections = new List<ConnectionReported>();
        var reachable = new List<ReachabilityReported>();
        var traffic = new List<OutageTraffic>();

        // Network drops count towards their cell's and node's outage first, so recoveries of an outage are created held.
        var classified = new Dictionary<CallDrop, Classification>(ReferenceEqualityComparer.Instance);
        foreach (var reported in events.OfType<DropReported>())
        {
            classified[reported.Drop] = classifier.Classify(reported.Drop);
        }

        var outageCount = await outages.CountAsync([.. classified.Where(c => c.Value.IsCandidate).Select(c => c.Key)]).ConfigureAwait(false);
        foreach (var ingested in events)
        {
            switch (ingested)
            {
                case DropReported { Drop: var drop }:
                    if (drop.AnswerTime is { } answered)
                    {
                        // A call answered there: the cell and node carried traffic then (ends an incident begun before).
                        traffic.Add(new(new OutageScope(OutageScope.Cell, drop.ServingCell), answered, "a call answered in the cell"));
                        traffic.Add(new(new OutageScope(OutageScope.Node, drop.SwitchingNode), answered, "a call answered on the node"));
                    }

                    if (classifier.ProtectedParty(drop.Caller, drop.Callee, drop.Emergency) is { } protectedParty)
                    {
                        emergencies.Add(new EmergencyCall(protectedParty, drop.AnswerTime ?? drop.DropTime));
                    }

                    var classification = classified[drop];
                    var plan = classification.IsCandidate ? router.Plan(drop.SwitchingNode, drop.DropTime) : null;
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
                    pending.Add(plan is not null ? new PendingDecision(draft, classification, drop, plan) : new PendingDecision(draft, Drop: drop));
                    break;
                case ConnectionReported connection:
                    if (classifier.ProtectedParty(connection.Caller, connection.Callee, connection.Emergency) is { } protectedCalled)
                    {
                        emergencies.Add(new EmergencyCall(protectedCalled, connection.AnswerTime));
                    }
                    else
                    {
                        connections.Add(connection);
                    }

                    traffic.Add(new(new OutageScope(OutageScope.Cell, connection.ServingCell), connection.AnswerTime, "a call connected in the cell"));
                    traffic.Add(new(new OutageScope(OutageScope.Node, connection.SwitchingNode), connection.AnswerTime, "a call connected on the node"));
                    break;
                case ReachabilityReported subscriber:
                    reachable.Add(subscriber);
                    break;
                case CellInServiceReported cell:
                    traffic.Add(new(new OutageScope(OutageScope.Cell, cell.ServingCell), cell.At, "the cell was reported in service", Reported: true));
                    traffic.Add(new(new OutageScope(OutageScope.Node, cell.SwitchingNode), cell.At, "a cell of the node was reported in service", Reported: true));
                    break;
                case RejectedEvent { CallId.Length: > 0 } rejected:
                    // Filed under its call so an engineer asking about the call sees why nothing happened.
                    pending.Add(new PendingDecision(new DecisionRecord
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

        var settled = await store.SettleAsync(pending, emergencies, connections).ConfigureAwait(false);
        foreach (var decision in settled)
        {
            if (!decision.IsNew)
            {
                continue;
            }

            telemetry.Decided(decision.Record.Reason.ToWireName());
            LogDecision(decision.Record.CallId, decision.Record.EventId, decision.Record.Reason, decision.Record.Detail, decision.Record.RecoveryId);
        }

        return new DecidedBatch(settled, emergencies, connections, reachable, traffic, outageCount);
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
}
