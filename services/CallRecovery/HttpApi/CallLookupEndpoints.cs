using CallRecovery.Amends;
using CallRecovery.Decisions;
using CallRecovery.Lookup;
using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Policy;
using CallRecovery.Redis;
using CallRecovery.Recoveries;
using CallRecovery.Security;
using CallRecovery.Subscribers;

namespace CallRecovery.HttpApi;

/// <summary>
/// HTTP endpoints for engineers and CRM: what was decided for a call; a subscriber's opt-out and its audit trail.
/// Served on the HTTP listener only, each behind the scope it needs (<see cref="ApiScopes"/>).
/// </summary>
public static partial class CallLookupEndpoints
{
    /// <summary>The log category of opt-out changes, so an audit pipeline can pick them out.</summary>
    public const string AuditCategory = "CallRecovery.Audit.OptOut";

    internal const string NumberFormat = "The subscriber number must be E.164, e.g. +447700900123.";

    public static IEndpointRouteBuilder MapCallLookup(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/v1").ServedOn(Listeners.Http);
        api.MapGet("/calls/{callId}", async (string callId, CallStories stories) =>
        {
            var story = await stories.OfCallAsync(callId).ConfigureAwait(false);
            return story.IsKnown
                ? Results.Ok(new CallView(callId, story.Recovery is null ? null : RecoveryView.From(story.Recovery, story.Compensation), story.Decisions))
                : Results.NotFound(new { callId, error = "No decision is recorded for this call id." });
        }).RequireAuthorization(ApiScopes.CallsRead);

        api.MapGet("/incidents", async (OutageGuard outages) => Results.Ok(await outages.LatestAsync(100).ConfigureAwait(false))).RequireAuthorization(ApiScopes.CallsRead);
        api.MapGet("/incidents/{incidentId}", async (string incidentId, OutageGuard outages) =>
            await outages.GetAsync(incidentId).ConfigureAwait(false) is { } incident
                ? Results.Ok(incident)
                : Results.NotFound(new { incidentId = OutageGuard.TryParseId(incidentId, out _, out _) ? incidentId : null, error = "No such outage incident (ids look like cell-0123456789abcdef-1765000000000)." }))
            .RequireAuthorization(ApiScopes.CallsRead);

        api.MapPut("/subscribers/{number}/opt-out", (string number, HttpContext http, OptOuts optOuts, DurabilityBarrier durability, TimeProvider time, ILoggerFactory logs) =>
            SetOptOut(number, true, http, optOuts, durability, time, logs)).RequireAuthorization(ApiScopes.OptOutWrite);
        api.MapDelete("/subscribers/{number}/opt-out", (string number, HttpContext http, OptOuts optOuts, DurabilityBarrier durability, TimeProvider time, ILoggerFactory logs) =>
            SetOptOut(number, false, http, optOuts, durability, time, logs)).RequireAuthorization(ApiScopes.OptOutRemove);
        api.MapGet("/subscribers/{number}/opt-out", async (string number, OptOuts optOuts) =>
        {
            if (!PhoneNumbers.IsE164(number))
            {
                return Results.BadRequest(new { error = NumberFormat });
            }

            var (current, trail) = await optOuts.GetAsync(number).ConfigureAwait(false);
            return Results.Ok(new OptOutView(PhoneNumberMask.Mask(number), current is not null, current, trail));
        }).RequireAuthorization(ApiScopes.SubscribersRead);
        return endpoints;
    }

    /// <summary>Sets or removes an opt-out; answers 200 only once the change is durable (503 with Retry-After, nothing confirmed, otherwise).</summary>
    private static async Task<IResult> SetOptOut(string number, bool optedOut, HttpContext http, OptOuts optOuts, DurabilityBarrier durability, TimeProvider time, ILoggerFactory logs)
    {
        if (!PhoneNumbers.IsE164(number))
        {
            return Results.BadRequest(new { error = NumberFormat });
        }

        var change = new OptOutChange(optedOut, time.GetUtcNow(), Principal(http), http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        // Not confirmed: CRM sends it again (setting an opt-out twice changes nothing).
        var (_, refused) = await DurableWrite.ConfirmAsync(http, durability, async () =>
        {
            await optOuts.SetAsync(number, change).ConfigureAwait(false);
            return true;
        }, "opt-out", retryAfterSeconds: 5).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        var audit = logs.CreateLogger(AuditCategory);
        LogOptOutChanged(audit, number, optedOut, change.By, change.From);
        return Results.Ok(new OptOutView(PhoneNumberMask.Mask(number), optedOut, optedOut ? change : null, [change]));
    }

    /// <summary>Who asked: the token's subject (with its client, when the token names one) or the certificate's CN; "anonymous (loopback)" without authentication.</summary>
    internal static string Principal(HttpContext http)
    {
        var user = http.User;
        if (user.Identity?.IsAuthenticated != true)
        {
            return "anonymous (loopback)";
        }

        var subject = user.FindFirst("sub")?.Value ?? user.Identity.Name ?? "unnamed";
        var client = user.FindFirst("client_id")?.Value ?? user.FindFirst("azp")?.Value;
        return client is not null && client != subject ? $"{subject} via {client}" : subject;
    }

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "Opt-out of {Subscriber} set to {OptedOut} by {By} from {From}")]
    private static partial void LogOptOutChanged(ILogger logger, [SubscriberNumber] string subscriber, bool optedOut, string by, string from);

    /// <summary>A subscriber's opt-out as shown outside: the number masked, the change that set it, the latest changes.</summary>
    public sealed record OptOutView(string Subscriber, bool OptedOut, OptOutChange? Since, IReadOnlyList<OptOutChange> Changes);

    public sealed record CallView(string CallId, RecoveryView? Recovery, IReadOnlyList<DecisionRecord> Decisions);

    /// <summary>A recovery as shown outside: numbers masked.</summary>
    public sealed record RecoveryView(string RecoveryId, string State, string CallBack, string OtherParty, DateTimeOffset DropTime, DateTimeOffset AcceptedAt, string Cause, string SwitchingNode,
        int CallbackAttempt, string Hold, string Incident, DateTimeOffset DueAt, string Outcome, string Detail, IReadOnlyList<CallbackAttemptOutcome> EarlierCallbacks,
        CompensationView? Compensation, bool Shadow, DateTimeOffset? WouldHaveCalledAt, bool Vulnerable, DateTimeOffset Deadline, double? GraceSeconds, string GraceBasis, string TraceId)
    {
        public static RecoveryView From(RecoveryRecord r, Contracts.V1.Compensation? compensation) =>
            new(r.RecoveryId, r.State.ToString(), PhoneNumberMask.Mask(r.CallBack), PhoneNumberMask.Mask(r.OtherParty), r.DropTime, r.AcceptedAt, r.Cause, r.SwitchingNode,
                r.CallbackAttempt, r.Hold, r.Incident, r.DueAt, r.Outcome, r.Detail, r.EarlierCallbacks, compensation is null ? null : CompensationView.From(compensation),
                r.Shadow, r.Shadow && r.Outcome == nameof(Contracts.V1.Outcome.WouldHaveCalled) ? r.CompletedAt : null, r.Vulnerable, r.Deadline, r.Grace?.TotalSeconds, r.GraceBasis, r.TraceId);
    }

    /// <summary>The amends made for a failed recovery, as shown outside (the customer's number left out).</summary>
    public sealed record CompensationView(string CompensationId, DateTimeOffset At, string Outcome, string Template, string Language, string Channel, string Credit, bool Capped, uint CreditsToday)
    {
        public static CompensationView From(Contracts.V1.Compensation c) =>
            new(c.CompensationId, c.At.ToDateTimeOffset(), Compensations.WireName(c.Outcome), c.Apology.TemplateId, c.Apology.Language, c.Apology.Channel, Compensations.CreditText(c), c.Capped, c.CreditsToday);
    }
}
