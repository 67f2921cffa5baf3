using CallRecovery.Amends;
using CallRecovery.Contracts.V1;
using Google.Protobuf.WellKnownTypes;
using CallRecovery.Decisions;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.Lookup;

/// <summary>Tells one call's story as a timeline: the drop, each report's decision, and every delivery step, with timings.</summary>
public static class Timelines
{
    public static CallTimeline Build(string callId, IReadOnlyList<DecisionRecord> decisions, RecoveryRecord? recovery, Contracts.V1.Compensation? compensation = null)
    {
        var reported = decisions.Select(d => d.DropTime).OfType<DateTimeOffset>().ToList();
        var dropTime = recovery?.DropTime ?? (reported.Count > 0 ? reported.Min() : decisions.Count > 0 ? decisions[0].DecidedAt : DateTimeOffset.UnixEpoch);
        var entries = new List<(DateTimeOffset At, string What, string Detail)>();
        var first = decisions.FirstOrDefault(d => d.DropTime is not null);
        if (first is not null)
        {
            entries.Add((dropTime, "dropped", $"cause {first.Cause}, cell {first.ServingCell}, node {first.SwitchingNode}, answered {first.AnsweredSeconds:0.#} s before"));
        }

        foreach (var decision in decisions)
        {
            entries.Add((decision.DecidedAt, "decided: " + decision.Reason.ToWireName(),
                Join($"report {decision.EventId}", decision.Reporter is { Length: > 0 } reporter ? "from " + reporter : null, decision.DroppedParty is { } party ? $"{party} leg" : null, decision.Detail)));
        }

        if (recovery is not null)
        {
            if (recovery.Hold.Length > 0)
            {
                entries.Add((recovery.HeldAt ?? recovery.AcceptedAt, "held: " + recovery.Hold, recovery.Hold == RecoveryLifecycle.HoldForOutage
                    ? $"outage incident {recovery.Incident}: not dispatched until the cell or node carries traffic again"
                    : "the customer lost radio coverage: waiting until they are reachable again (or the deadline)"));
            }

            if (recovery.ReleasedAt is { } released)
            {
                entries.Add((released, "released", recovery.Incident.Length > 0 ? $"outage incident {recovery.Incident} ended" : "the customer is reachable again"));
            }

            foreach (var earlier in recovery.EarlierCallbacks)
            {
                entries.Add((earlier.At, $"callback {earlier.Number}: {earlier.Outcome}", Join(earlier.Detail, "tried again after the gap")));
            }

            if (recovery.DeferredAt is { } deferred)
            {
                entries.Add((deferred, "put off: quiet hours", recovery.Deferral));
            }

            entries.Add((recovery.DueAt, recovery.CallbackAttempt > 1 ? $"callback {recovery.CallbackAttempt} due" : "callback due",
                $"{(recovery.Delayed ? "delayed (quiet hours apply)" : recovery.Grace is { } grace ? $"after a learned grace of {grace.TotalSeconds:0} s ({recovery.GraceBasis})" : "after the grace period")}, to switch {recovery.SwitchId}; deadline {recovery.Deadline:HH:mm:ss.fff}"
                + (recovery.Vulnerable ? "; vulnerable customer: first in the switch's queue, priority high" : string.Empty)
                + (recovery.Shadow ? "; shadow (Rollout): nothing is sent" : string.Empty)));
            if (recovery.FirstDispatchedAt is { } sent)
            {
                entries.Add((sent, "callback sent", recovery.Attempts > 1 ? $"{recovery.Attempts} deliveries in all" : "first delivery"));
            }

            if (recovery.AcknowledgedAt is { } acknowledged)
            {
                entries.Add((acknowledged, "acknowledged", $"switch {recovery.SwitchId} accepted the command"));
            }

            foreach (var (stage, at) in recovery.StageTimes)
            {
                entries.Add((at, "stage: " + stage, string.Empty));
            }

            if (recovery.CompletedAt is { } completed)
            {
                entries.Add((completed, "outcome: " + recovery.Outcome, Join(
                    recovery.Detail,
                    recovery.TalkTime is { } talk && talk > TimeSpan.Zero ? $"talked {talk:m\\:ss}" : null,
                    recovery.SurveyScore > 0 ? $"rated {recovery.SurveyScore}/5" : null)));
            }
        }

        if (compensation is not null)
        {
            entries.Add((compensation.At.ToDateTimeOffset(), "compensated: " + compensation.Apology.TemplateId,
                $"apology by {compensation.Apology.Channel} in {compensation.Apology.Language}; credit {Compensations.CreditText(compensation)}"));
        }

        var timeline = new CallTimeline
        {
            CallId = callId,
            RecoveryId = recovery?.RecoveryId ?? string.Empty,
            State = recovery?.State.ToString() ?? "not recovered",
            CustomerMasked = PhoneNumberMask.Mask(recovery?.CallBack),
            OtherPartyMasked = PhoneNumberMask.Mask(recovery?.OtherParty),
            SwitchId = recovery?.SwitchId ?? string.Empty,
            Outcome = recovery?.Outcome ?? string.Empty,
            TraceId = recovery?.TraceId ?? string.Empty,
        };
        foreach (var (at, what, detail) in entries.OrderBy(e => e.At))
        {
            timeline.Entries.Add(new TimelineEntry { At = Timestamp.FromDateTimeOffset(at), SinceDrop = Duration.FromTimeSpan(at - dropTime), What = what, Detail = detail });
        }

        return timeline;
    }

    private static string Join(params string?[] parts) => string.Join("; ", parts.Where(p => !string.IsNullOrEmpty(p)));
}
