using CallRecovery.Decisions;
using CallRecovery.Delivery;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Recoveries;



namespace CallRecovery.HttpApi;

/// <summary>HTTP endpoints for engineers and CRM: what was decided for a call; a subscriber's opt-out.</summary>
public static class CallLookupEndpoints
{
    public static IEndpointRouteBuilder MapCallLookup(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/calls/{callId}", async (string callId, DecisionStore store) =>
        {
            var (decisions, recovery) = await store.GetCallAsync(callId).ConfigureAwait(false);
            if (decisions.Count == 0 && recovery is null)
            {
                return Results.NotFound(new { callId, error = "No decision is recorded for this call id." });
            }

            return Results.Ok(new CallView(callId, recovery is null ? null : RecoveryView.From(recovery), decisions));
        });

        endpoints.MapPut("/v1/subscribers/{number}/opt-out", (string number, DecisionStore store, RecoveryScheduler scheduler) => SetOptOut(number, true, store, scheduler));
        endpoints.MapDelete("/v1/subscribers/{number}/opt-out", (string number, DecisionStore store, RecoveryScheduler scheduler) => SetOptOut(number, false, store, scheduler));
        endpoints.MapGet("/v1/subscribers/{number}/opt-out", async (string number, DecisionStore store) =>
            PhoneNumbers.IsE164(number)
                ? Results.Ok(new { subscriber = PhoneNumberMask.Mask(number), optedOut = await store.IsOptedOutAsync(number).ConfigureAwait(false) })
                : Results.BadRequest(new { error = "The subscriber number must be E.164, e.g. +447700900123." }));
        return endpoints;
    }

    private static async Task<IResult> SetOptOut(string number, bool optedOut, DecisionStore store, RecoveryScheduler scheduler)
    {
        if (!PhoneNumbers.IsE164(number))
        {
            return Results.BadRequest(new { error = "The subscriber number must be E.164, e.g. +447700900123." });
        }

        await store.SetOptOutAsync(number, optedOut).ConfigureAwait(false);
        if (optedOut)
        {
            // Written first, then the recoveries already decided are cancelled; the dispatch step re-checks too.
            await scheduler.CancelForPartyAsync(number, "a party opted out since the decision").ConfigureAwait(false);
        }

        return Results.Ok(new { subscriber = PhoneNumberMask.Mask(number), optedOut });
    }

    public sealed record CallView(string CallId, RecoveryView? Recovery, IReadOnlyList<DecisionRecord> Decisions);

    /// <summary>A recovery as shown outside: numbers masked.</summary>
    public sealed record RecoveryView(string RecoveryId, string State, string CallBack, string OtherParty, DateTimeOffset DropTime, DateTimeOffset AcceptedAt, string Cause, string SwitchingNode)
    {
        public static RecoveryView From(RecoveryRecord r) =>
            new(r.RecoveryId, r.State.ToString(), PhoneNumberMask.Mask(r.CallBack), PhoneNumberMask.Mask(r.OtherParty), r.DropTime, r.AcceptedAt, r.Cause, r.SwitchingNode);
    }
}
