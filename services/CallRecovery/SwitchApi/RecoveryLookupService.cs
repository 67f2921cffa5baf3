using CallRecovery.Contracts.V1;
using CallRecovery.Lookup;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Security;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace CallRecovery.SwitchApi;

/// <summary>The engineers' lookup: by call id, recovery id or subscriber number (matched, never echoed in full).</summary>
public sealed class RecoveryLookupService(CallStories stories, IOptions<SwitchingOptions> options) : RecoveryLookup.RecoveryLookupBase
{
    private const int MostCallsPerSubscriber = 20;

    public override async Task<TimelineReply> GetTimeline(TimelineRequest request, ServerCallContext context)
    {
        await AuthorizeAsync(context).ConfigureAwait(false);
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
            reply.Calls.Add(Timelines.Build(story.CallId, story.Decisions, story.Recovery));
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
