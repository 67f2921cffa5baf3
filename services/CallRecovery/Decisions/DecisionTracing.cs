using System.Diagnostics;
using System.Globalization;
using CallRecovery.Observability;
using CallRecovery.Policy;

namespace CallRecovery.Decisions;

/// <summary>The decision's spans in a recovery's trace.</summary>
public static class DecisionTracing
{
    /// <summary>"recovery decide" (and "recovery schedule" when accepted), children of the event's process span.</summary>
    public static void Decided(Activity? process, DecisionRecord decision, DateTimeOffset started, RecoveryPlan? plan)
    {
        if (process is null)
        {
            return;
        }

        process.SetTag(RecoveryTracing.CallId, decision.CallId).SetTag(RecoveryTracing.Reason, decision.Reason.ToString()).SetTag(RecoveryTracing.RecoveryId, decision.RecoveryId);
        using var decide = CallRecoveryTelemetry.ActivitySource.StartActivity("recovery decide", ActivityKind.Internal, process.Context, startTime: started);
        decide?.SetTag(RecoveryTracing.CallId, decision.CallId)
            .SetTag(RecoveryTracing.MessagingMessageId, decision.EventId)
            .SetTag(RecoveryTracing.Reason, decision.Reason.ToWireName())
            .SetTag(RecoveryTracing.Detail, decision.Detail)
            .SetTag(RecoveryTracing.Cause, decision.Cause)
            .SetTag(RecoveryTracing.Cell, decision.ServingCell)
            .SetTag(RecoveryTracing.SwitchingNode, decision.SwitchingNode)
            .SetTag(RecoveryTracing.RecoveryId, decision.RecoveryId);
        if (plan is not null && decide is not null)
        {
            using var schedule = CallRecoveryTelemetry.ActivitySource.StartActivity("recovery schedule", ActivityKind.Internal, decide.Context);
            schedule?.SetTag(RecoveryTracing.CallId, decision.CallId)
                .SetTag(RecoveryTracing.RecoveryId, decision.RecoveryId)
                .SetTag(RecoveryTracing.SwitchId, plan.SwitchId)
                .SetTag("callrecovery.due_at", plan.DueAt.ToString("O", CultureInfo.InvariantCulture))
                .SetTag("callrecovery.deadline", plan.Deadline.ToString("O", CultureInfo.InvariantCulture))
                .SetTag("callrecovery.grace.seconds", plan.Grace?.Grace.TotalSeconds)
                .SetTag("callrecovery.grace.basis", plan.Grace?.Basis)
                .SetTag("callrecovery.grace.why", plan.Grace?.Why);
        }
    }
}
