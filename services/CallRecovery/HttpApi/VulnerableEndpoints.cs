using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Redis;
using CallRecovery.Security;
using CallRecovery.Subscribers;
using Microsoft.Extensions.Options;

namespace CallRecovery.HttpApi;

/// <summary>
/// Vulnerable customers, flagged by CRM: <c>PUT /v1/subscribers/{number}/vulnerable</c> with <c>{"until": ...}</c> flags
/// one until then (at most <c>Policy:VulnerableFlagLimit</c> ahead), <c>DELETE</c> removes the flag (both scope
/// <c>subscribers:write</c>, never anonymous, audited: who, from where), <c>GET</c> shows it (<c>subscribers:read</c>).
/// A flagged customer's next recoveries go first in their switch's queue, with priority high and
/// <c>Policy:VulnerableDeadline</c>. The reason is CRM's to keep: nothing about it is stored here.
/// </summary>
public static partial class VulnerableEndpoints
{
    /// <summary>The log category of vulnerability flags set and removed, so an audit pipeline can pick them out.</summary>
    public const string AuditCategory = "CallRecovery.Audit.Vulnerable";

    public static IEndpointRouteBuilder MapVulnerable(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/v1/subscribers/{number}/vulnerable").ServedOn(Listeners.Http);
        api.MapPut(string.Empty, SetAsync).RequireAuthorization(ApiScopes.SubscribersWrite);
        api.MapDelete(string.Empty, RemoveAsync).RequireAuthorization(ApiScopes.SubscribersWrite);
        api.MapGet(string.Empty, async (string number, SubscriberFacts subscribers) => PhoneNumbers.IsE164(number)
            ? Results.Ok(new VulnerableView(PhoneNumberMask.Mask(number), await subscribers.VulnerableAsync(number).ConfigureAwait(false)))
            : Results.BadRequest(new { error = CallLookupEndpoints.NumberFormat })).RequireAuthorization(ApiScopes.SubscribersRead);
        return endpoints;
    }

    /// <summary>Flags a customer until a time; answers 200 only once the flag is durable (503 with Retry-After otherwise).</summary>
    private static async Task<IResult> SetAsync(string number, VulnerableRequest request, HttpContext http, SubscriberFacts subscribers, DurabilityBarrier durability,
        TimeProvider time, IOptions<RecoveryPolicyOptions> policy, ILoggerFactory logs)
    {
        var now = time.GetUtcNow();
        if (!PhoneNumbers.IsE164(number))
        {
            return Results.BadRequest(new { error = CallLookupEndpoints.NumberFormat });
        }

        if (request?.Until is not { } until || until <= now || until > now + policy.Value.VulnerableFlagLimit)
        {
            return Results.BadRequest(new { error = $"'until' must be a time after now and at most {policy.Value.VulnerableFlagLimit.TotalDays:0} days ahead (Policy:VulnerableFlagLimit), e.g. {{\"until\": \"{now.AddDays(90):yyyy-MM-ddTHH:mm:ssZ}\"}}." });
        }

        var flag = new VulnerableFlag(until, now, CallLookupEndpoints.Principal(http), http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        return await ChangeAsync(number, flag, http, subscribers, durability, now, logs, flag.By, flag.From).ConfigureAwait(false);
    }

    private static Task<IResult> RemoveAsync(string number, HttpContext http, SubscriberFacts subscribers, DurabilityBarrier durability, TimeProvider time, ILoggerFactory logs) =>
        PhoneNumbers.IsE164(number)
            ? ChangeAsync(number, null, http, subscribers, durability, time.GetUtcNow(), logs, CallLookupEndpoints.Principal(http), http.Connection.RemoteIpAddress?.ToString() ?? "unknown")
            : Task.FromResult(Results.BadRequest(new { error = CallLookupEndpoints.NumberFormat }));

    private static async Task<IResult> ChangeAsync(string number, VulnerableFlag? flag, HttpContext http, SubscriberFacts subscribers, DurabilityBarrier durability,
        DateTimeOffset now, ILoggerFactory logs, string by, string from)
    {
        // Not confirmed: CRM sends it again (setting or removing a flag twice changes nothing).
        var (_, refused) = await DurableWrite.ConfirmAsync(http, durability, async () =>
        {
            await subscribers.SetVulnerableAsync(number, flag, now).ConfigureAwait(false);
            return true;
        }, "flag", retryAfterSeconds: 5).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        LogFlagChanged(logs.CreateLogger(AuditCategory), number, flag?.Until, by, from);
        return Results.Ok(new VulnerableView(PhoneNumberMask.Mask(number), flag));
    }

    [LoggerMessage(EventId = 73, Level = LogLevel.Warning, Message = "Vulnerability flag of {Subscriber} set until {Until} (none: removed) by {By} from {From}")]
    private static partial void LogFlagChanged(ILogger logger, [SubscriberNumber] string subscriber, DateTimeOffset? until, string by, string from);

    /// <summary>What CRM sends: until when the customer is flagged.</summary>
    public sealed record VulnerableRequest(DateTimeOffset? Until);

    /// <summary>A customer's flag as shown outside (the number masked): null when not flagged.</summary>
    public sealed record VulnerableView(string Subscriber, VulnerableFlag? Flag);
}
