using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace CallRecovery.Security;

/// <summary>
/// The HTTP API's capabilities. A caller holds them as scopes: the space-separated <c>scope</c> claim of a JWT
/// (RFC 9068; <c>scp</c> is read too), or the scopes configured for a client certificate's CN. Each is also the
/// name of the authorization policy that asks for it.
/// </summary>
public static class ApiScopes
{
    /// <summary>Read a call's record: decisions, recovery, serving cell.</summary>
    public const string CallsRead = "calls:read";

    /// <summary>Read a subscriber's opt-out and its audit trail.</summary>
    public const string SubscribersRead = "subscribers:read";

    /// <summary>Set or remove an opt-out.</summary>
    public const string OptOutWrite = "optout:write";

    /// <summary>The policy of removing an opt-out: <see cref="OptOutWrite"/>, and never anonymously, not even from loopback.</summary>
    public const string OptOutRemove = "optout:remove";

    /// <summary>Read whether callbacks are paused (the kill switch) and its audit trail.</summary>
    public const string RolloutRead = "rollout:read";

    /// <summary>Pause or resume every callback (the kill switch); never anonymously.</summary>
    public const string RolloutWrite = "rollout:write";

    /// <summary>Flag or unflag a customer vulnerable (CRM); never anonymously.</summary>
    public const string SubscribersWrite = "subscribers:write";

    /// <summary>Cancel a customer's queued callback on their behalf (CRM, the app); never anonymously.</summary>
    public const string RecoveriesWrite = "recoveries:write";

    internal static void AddPolicies(AuthorizationOptions authorization)
    {
        authorization.AddPolicy(SubscribersWrite, p => p.AddRequirements(new ScopeRequirement(SubscribersWrite, IdentityRequired: true)));
        authorization.AddPolicy(RecoveriesWrite, p => p.AddRequirements(new ScopeRequirement(RecoveriesWrite, IdentityRequired: true)));
        authorization.AddPolicy(CallsRead, p => p.AddRequirements(new ScopeRequirement(CallsRead, IdentityRequired: false)));
        authorization.AddPolicy(SubscribersRead, p => p.AddRequirements(new ScopeRequirement(SubscribersRead, IdentityRequired: false)));
        authorization.AddPolicy(OptOutWrite, p => p.AddRequirements(new ScopeRequirement(OptOutWrite, IdentityRequired: false)));
        authorization.AddPolicy(OptOutRemove, p => p.AddRequirements(new ScopeRequirement(OptOutWrite, IdentityRequired: true)));
        authorization.AddPolicy(RolloutRead, p => p.AddRequirements(new ScopeRequirement(RolloutRead, IdentityRequired: false)));
        authorization.AddPolicy(RolloutWrite, p => p.AddRequirements(new ScopeRequirement(RolloutWrite, IdentityRequired: true)));
    }

    public static bool Holds(ClaimsPrincipal user, string scope)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.Identity?.IsAuthenticated == true
            && user.Claims.Where(c => c.Type is "scope" or "scp")
                .Any(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(scope, StringComparer.Ordinal));
    }

    internal sealed record ScopeRequirement(string Scope, bool IdentityRequired) : IAuthorizationRequirement;

    /// <summary>
    /// A caller holding the scope passes. With no authentication configured at all, an anonymous caller on the
    /// same host passes too (a laptop demo), unless the capability needs to know who asks.
    /// </summary>
    internal sealed class ScopeHandler(IOptions<ApiAccessOptions> access) : AuthorizationHandler<ScopeRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
        {
            if (Holds(context.User, requirement.Scope)
                || (!access.Value.AnyConfigured && !requirement.IdentityRequired && context.Resource is HttpContext http && Loopback.Is(http.Connection.RemoteIpAddress)))
            {
                context.Succeed(requirement);
            }

            return Task.CompletedTask;
        }
    }
}
