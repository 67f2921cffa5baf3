using CallRecovery.Delivery;
using CallRecovery.Policy;
using CallRecovery.Redis;
using CallRecovery.Security;

namespace CallRecovery.HttpApi;

/// <summary>
/// The kill switch for operations: <c>GET /v1/rollout</c> says whether callbacks are paused (and the latest changes),
/// <c>PUT /v1/rollout</c> with <c>{"paused": true, "reason": "..."}</c> pauses every new callback command on every
/// replica, <c>{"paused": false, ...}</c> resumes them. Each change is audited: who, when, from where, before and after.
/// </summary>
public static partial class RolloutEndpoints
{
    /// <summary>The log category of kill-switch changes, so an audit pipeline can pick them out.</summary>
    public const string AuditCategory = "CallRecovery.Audit.Rollout";

    private const int MaxReason = 200;

    public static IEndpointRouteBuilder MapRollout(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/v1").ServedOn(Listeners.Http);
        api.MapGet("/rollout", async (DispatchPause pause, RolloutPolicy rollout) =>
        {
            var (state, changes) = await pause.GetAsync().ConfigureAwait(false);
            return Results.Ok(new RolloutView(state.Paused, state.Reason, state.By, state.Since, null, changes, rollout.Current.Mode.ToString(), rollout.Current.Canary));
        }).RequireAuthorization(ApiScopes.RolloutRead);
        api.MapPut("/rollout", SetAsync).RequireAuthorization(ApiScopes.RolloutWrite);
        return endpoints;
    }

    /// <summary>Pauses or resumes; answers 200 only once the change is durable (503 with Retry-After, nothing confirmed, otherwise).</summary>
    private static async Task<IResult> SetAsync(RolloutChange? change, HttpContext http, DispatchPause pause, RolloutPolicy rollout, DurabilityBarrier durability, ILoggerFactory logs)
    {
        if (change?.Paused is not { } paused || string.IsNullOrWhiteSpace(change.Reason) || change.Reason.Length > MaxReason)
        {
            return Results.BadRequest(new { error = $"Send {{\"paused\": true|false, \"reason\": \"why, up to {MaxReason} characters\"}}." });
        }

        var by = CallLookupEndpoints.Principal(http);
        var from = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        // Not confirmed: the operator sends it again (pausing twice changes nothing but the reason).
        var ((before, after, changes), refused) = await DurableWrite.ConfirmAsync(http, durability, async () =>
        {
            var (was, now) = await pause.SetAsync(paused, change.Reason.Trim(), by, from).ConfigureAwait(false);
            return (was, now, await pause.ChangesAsync().ConfigureAwait(false));
        }, "change", retryAfterSeconds: 2).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        LogChanged(logs.CreateLogger(AuditCategory), before.Paused, after.Paused, by, from, after.Reason);
        return Results.Ok(new RolloutView(after.Paused, after.Reason, after.By, after.Since, new RolloutBefore(before.Paused, before.Reason, before.By, before.Since), changes, rollout.Current.Mode.ToString(), rollout.Current.Canary));
    }

    [LoggerMessage(EventId = 71, Level = LogLevel.Warning, Message = "Kill switch: callbacks paused {Before} -> {After} by {By} from {From}: {Reason}")]
    private static partial void LogChanged(ILogger logger, bool before, bool after, string by, string from, string reason);

    /// <summary>What a PUT asks for.</summary>
    public sealed record RolloutChange(bool? Paused, string? Reason);

    /// <summary>
    /// The kill switch as shown: paused or not, why, by whom, since when; what it was before a change; its latest
    /// changes; and the rollout in force (Rollout:Mode and the canary, from configuration, read live).
    /// </summary>
    public sealed record RolloutView(bool Paused, string Reason, string By, DateTimeOffset? Since, RolloutBefore? Before, IReadOnlyList<DispatchPause.PauseChange> Changes, string Mode, CanaryOptions Canary);

    public sealed record RolloutBefore(bool Paused, string Reason, string By, DateTimeOffset? Since);
}
