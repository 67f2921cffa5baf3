using CallRecovery.Contracts.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Options;
using CallRecovery.Policy;
using CallRecovery.Recoveries;

namespace CallRecovery.Delivery;

/// <summary>Builds the command a switch receives from the recovery as stored.</summary>
public sealed class CallbackCommands(SwitchRouter router, IOptions<SwitchingOptions> options)
{
    private readonly string _promptId = options.Value.Announcement.PromptId;

    public CallbackCommand From(RecoveryRecord recovery) => new()
    {
        RecoveryId = recovery.RecoveryId,
        CallId = recovery.CallId,
        Customer = recovery.CallBack,
        OtherParty = recovery.OtherParty,
        Announcement = new Announcement { Language = router.LanguageFor(recovery.CallBack), PromptId = _promptId },
        Charging = new Charging { ReconnectLegFree = true, ChargingReference = recovery.RecoveryId },
        Deadline = Timestamp.FromDateTimeOffset(recovery.Deadline),
        Attempt = (uint)recovery.Attempts,
        Priority = recovery.Vulnerable || recovery.Attempts > 1 ? Priority.High : Priority.Normal,
        Traceparent = recovery.TraceParent,
        DropTime = Timestamp.FromDateTimeOffset(recovery.DropTime),
        ReleaseCause = recovery.Cause,
        CallbackAttempt = (uint)recovery.CallbackAttempt,
    };
}
