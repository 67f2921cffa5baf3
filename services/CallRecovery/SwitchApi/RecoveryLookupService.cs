using CallRecovery.Security;
using CallRecovery.Contracts.V1;
using Grpc.Core;
using Microsoft.Extensions.Options;
using CallRecovery.Decisions;
using CallRecovery.Lookup;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.SwitchApi;

/// <summary>The engineers' lookup: by call id, recovery id or subscriber number (matched, never echoed in full).</summary>
public sealed class RecoveryLookupService(DecisionStore store, IOptions<SwitchingOptions> options) : RecoveryLookup.RecoveryLookupBase
{
    private const int MostCallsPerSubscriber = 20;

    public override async Task<TimelineReply> GetTimeline(TimelineRequest request, ServerCallContext context)
    {
        await AuthorizeAsync(context).ConfigureAwait(false);
        IReadOnlyList<string> callIds = request.KeyCase switch
        {
            TimelineRequest.KeyOneofCase.CallId => [request.CallId],
            TimelineRequest.KeyOneofCase.RecoveryId when RecoveryIds.TryGetCallId(request.RecoveryId, out var callId) => [callId],
            TimelineRequest.KeyOneofCase.Subscriber when PhoneNumbers.IsE164(request.Subscriber) => await store.CallsOfAsync(request.Subscriber, MostCallsPerSubscriber).ConfigureAwait(false),
            TimelineRequest.KeyOneofCase.Subscriber => throw new RpcException(new Status(StatusCode.InvalidArgument, "The subscriber must be E.164, e.g. +447700900123.")),
            TimelineRequest.KeyOneofCase.RecoveryId => throw new RpcException(new Status(StatusCode.InvalidArgument, "That is not a recovery id.")),
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, "Give a call id, a recovery id or a subscriber number.")),
        };

        var reply = new TimelineReply();
        foreach (var callId in callIds)
        {
            var (decisions, recovery) = await store.GetCallAsync(callId).ConfigureAwait(false);
            if (decisions.Count > 0 || recovery is not null)
            {
                reply.Calls.Add(Timelines.Build(callId, decisions, recovery));
            }
        }

        if (reply.Calls.Count == 0 && request.KeyCase != TimelineRequest.KeyOneofCase.Subscriber)
        {
            throw new RpcException(new Status(StatusCode.NotFound, "Nothing is recorded for that call (or it is older than the retention)."));
        }

        return reply;
    }

    /// <summary>With mutual TLS on, only the configured lookup clients may ask; a switch certificate may not.</summary>
    private async Task AuthorizeAsync(ServerCallContext context)
    {
        if (!options.Value.RequireClientCertificate)
        {
            return;
        }

        var certificate = await context.GetHttpContext().Connection.GetClientCertificateAsync().ConfigureAwait(false);
        var name = certificate is null ? null : ClientCertificatePolicy.SubjectCommonName(certificate);
        if (name is null || !options.Value.EffectiveLookupClientNames.Contains(name))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "This certificate may not look recoveries up."));
        }
    }
}
