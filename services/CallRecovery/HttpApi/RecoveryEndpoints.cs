using CallRecovery.Lookup;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using CallRecovery.Security;

namespace CallRecovery.HttpApi;

/// <summary>
/// The customer's own say, for CRM and the operator's app: <c>GET /v1/subscribers/{number}/recoveries</c> lists the
/// callbacks queued for a customer now (scope <c>calls:read</c>), <c>DELETE /v1/recoveries/{recoveryId}</c> cancels
/// one (scope <c>recoveries:write</c>, never anonymous): the switch is told to stop it wherever it is connected.
/// Each cancel is audited: who, from where, which recovery (no phone number).
/// </summary>
public static partial class RecoveryEndpoints
{
    /// <summary>The log category of cancels on request, so an audit pipeline can pick them out.</summary>
    public const string AuditCategory = "CallRecovery.Audit.Recoveries";

    public static IEndpointRouteBuilder MapRecoveries(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/v1").ServedOn(Listeners.Http);
        api.MapGet("/subscribers/{number}/recoveries", async (string number, CallStories stories, TimeProvider time) =>
        {
            if (!PhoneNumbers.IsE164(number))
            {
                return Results.BadRequest(new { error = "The subscriber number must be E.164, e.g. +447700900123." });
            }

            var (open, notNowUntil) = await stories.OpenOfCustomerAsync(number, time.GetUtcNow()).ConfigureAwait(false);
            return Results.Ok(new CustomerRecoveries(PhoneNumberMask.Mask(number), [.. open.Select(r => CallLookupEndpoints.RecoveryView.From(r, null))], notNowUntil));
        }).RequireAuthorization(ApiScopes.CallsRead);
        api.MapDelete("/recoveries/{recoveryId}", CancelAsync).RequireAuthorization(ApiScopes.RecoveriesWrite);
        return endpoints;
    }

    /// <summary>Cancels a queued callback; answers 200 only once the cancel is durable (503 with Retry-After, nothing confirmed, otherwise).</summary>
    private static async Task<IResult> CancelAsync(string recoveryId, HttpContext http, RecoveryMoves moves, DurabilityBarrier durability, ILoggerFactory logs)
    {
        if (!RecoveryIds.TryGetCallId(recoveryId, out var callId))
        {
            return Results.NotFound(new { error = "No such recovery (ids look like 0123456789abcdef0123456789abcdef.<call id>)." });
        }

        var by = CallLookupEndpoints.Principal(http);
        var from = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        // Not confirmed: the caller sends it again (cancelling twice changes nothing).
        var (transition, refused) = await DurableWrite.ConfirmAsync(http, durability,
            () => moves.ApplyAsync(new CancelMove(callId, new CancelledOnRequest(by))), "cancel", retryAfterSeconds: 2).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        if (transition.Recovery is not { } recovery)
        {
            return Results.NotFound(new { recoveryId, error = "No such recovery (it may have passed the retention)." });
        }

        if (transition.Verdict != RecoveryVerdict.Applied)
        {
            return Results.Conflict(new { recoveryId, state = recovery.State.ToString(), error = "The recovery has ended already: nothing to cancel." });
        }

        LogCancelled(logs.CreateLogger(AuditCategory), recoveryId, by, from);
        return Results.Ok(CallLookupEndpoints.RecoveryView.From(recovery, null));
    }

    [LoggerMessage(EventId = 72, Level = LogLevel.Warning, Message = "Recovery {RecoveryId} cancelled on the customer's request by {By} from {From}")]
    private static partial void LogCancelled(ILogger logger, string recoveryId, string by, string from);

    /// <summary>A customer's queued callbacks as shown outside (numbers masked), and until when they asked for none.</summary>
    public sealed record CustomerRecoveries(string Subscriber, IReadOnlyList<CallLookupEndpoints.RecoveryView> Recoveries, DateTimeOffset? NoCallbacksUntil);
}
