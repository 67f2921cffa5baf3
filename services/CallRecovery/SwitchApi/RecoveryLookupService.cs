using CallRecovery.Contracts.V1;
using CallRecovery.Lookup;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Security;
using Grpc.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;

namespace CallRecovery.SwitchApi;

/// <summary>The engineers' lookup: by call id, recovery id or subscriber number (matched, never echoed in full).</summary>
public sealed partial class RecoveryLookupService(CallStories stories, IOptions<SwitchingOptions> options, IOptions<ApiAccessOptions> access, ILogger<RecoveryLookupService> logger)
    : RecoveryLookup.RecoveryLookupBase
{
    private const int MostCallsPerSubscriber = 20;

    public override async Task<TimelineReply> GetTimeline(TimelineRequest request, ServerCallContext context)
    {
        await AuthorizeAsync(context, request.KeyCase == TimelineRequest.KeyOneofCase.Subscriber).ConfigureAwait(false);
        IReadOnlyList<CallStory> found = request.KeyCase switch
        {
            TimelineRequest.KeyOneofCase.CallId => [await stories.OfCallAsync(request.CallId).ConfigureAwait(false)],
            TimelineRequest.KeyOneofCase.RecoveryId when RecoveryIds.TryGetCallId(request.RecoveryId, out var callId) => [await stories.OfCallAsync(callId).ConfigureAwait(false)],
            TimelineRequest.KeyOneofCase.Subscriber when PhoneNumbers.IsE164(request.Subscriber) => await stories.OfSubscriberAsync(request.Subscriber, MostCallsPerSubscriber).ConfigureAwait(false),
            TimelineRequest.KeyOneofCase.Subscriber => throw new RpcException(new Status(StatusCode.InvalidArgument, "The subscriber must be E.164, e.g. +447700900123.")),
            TimelineRequest.KeyOneofCase.RecoveryId => throw new RpcException(new Status(StatusCode.InvalidArgument, "That is not a recovery id.")),
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, "Give a call id, a recovery id or a subscriber number.")),
        };

        var reply = new TimelineReply();
        foreach (var story in found.Where(s => s.IsKnown))
        {
            reply.Calls.Add(Timelines.Build(story.CallId, story.Decisions, story.Recovery, story.Compensation));
        }

        if (reply.Calls.Count == 0 && request.KeyCase != TimelineRequest.KeyOneofCase.Subscriber)
        {
            throw new RpcException(new Status(StatusCode.NotFound, "Nothing is recorded for that call (or it is older than the retention)."));
        }

        return reply;
    }

    /// <summary>
    /// The lookup answers with personal data, so it asks for the HTTP API's scopes: <c>calls:read</c>, and
    /// <c>subscribers:read</c> too for a subscriber's timeline. A caller holds them through a bearer token (the HTTP
    /// API's issuer and keys) or a client certificate listed in Switching:LookupClients; a switch's certificate holds
    /// none unless listed there. Only when neither the switching port nor the HTTP API authenticates anyone (a laptop)
    /// is an anonymous caller on this host answered, as the HTTP API does.
    /// </summary>
    private async Task AuthorizeAsync(ServerCallContext context, bool subscriber)
    {
        var http = context.GetHttpContext();
        string[] needed = subscriber ? [ApiScopes.CallsRead, ApiScopes.SubscribersRead] : [ApiScopes.CallsRead];
        var held = new HashSet<string>(StringComparer.Ordinal);
        var certificate = await http.Connection.GetClientCertificateAsync().ConfigureAwait(false);
        if (certificate is not null)
        {
            foreach (var identity in ClientCertificatePolicy.Identities(certificate))
            {
                if (options.Value.LookupClientsOrDefault.TryGetValue(identity, out var scopes))
                {
                    held.UnionWith(scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                }
            }
        }

        if (!string.IsNullOrEmpty(context.RequestHeaders.GetValue("authorization")))
        {
            var token = await http.AuthenticateAsync(JwtBearerDefaults.AuthenticationScheme).ConfigureAwait(false);
            if (token.Succeeded && token.Principal is { } principal)
            {
                held.UnionWith(needed.Where(scope => ApiScopes.Holds(principal, scope)));
            }
        }

        var anonymousOnThisHost = options.Value.AllowInsecure && !options.Value.AllowInsecureOnNetwork && !access.Value.AnyConfigured && certificate is null
            && Loopback.Is(http.Connection.RemoteIpAddress);
        if (!anonymousOnThisHost && !needed.All(held.Contains))
        {
            LogLookupRefused(certificate is null ? "(no certificate)" : string.Join(' ', ClientCertificatePolicy.Identities(certificate)), string.Join(' ', needed));
            throw new RpcException(new Status(
                held.Count == 0 && certificate is null ? StatusCode.Unauthenticated : StatusCode.PermissionDenied,
                $"Looking this up needs the scope(s) {string.Join(" and ", needed)}: a bearer token holding them, or a lookup client certificate."));
        }
    }

    [LoggerMessage(EventId = 3221, Level = LogLevel.Warning, Message = "Recovery lookup refused to {Caller}: it does not hold {Scopes}")]
    private partial void LogLookupRefused(string caller, string scopes);
}
