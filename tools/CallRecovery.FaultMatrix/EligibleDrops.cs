using System.Globalization;
using CallRecovery.Contracts.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.FaultMatrix;

/// <summary>Drops the service recovers: a radio loss (Q.850 41) after 96 s of talk, caller and callee unique to <c>n</c> so no subscriber limit applies.</summary>
public static class EligibleDrops
{
    public static NetworkEvent Create(string callId, long n, DateTimeOffset dropTime, string switchingNode, string servingCell = "") => new()
    {
        CallDropped = new CallDropped
        {
            EventId = callId + "/msc",
            CallId = callId,
            Caller = string.Create(CultureInfo.InvariantCulture, $"+4479{n:00000000}"),
            Callee = string.Create(CultureInfo.InvariantCulture, $"+4478{n:00000000}"),
            DroppedParty = Party.Caller,
            ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Q850, Code = 41 },
            AnswerTime = Timestamp.FromDateTimeOffset(dropTime.AddSeconds(-96)),
            DropTime = Timestamp.FromDateTimeOffset(dropTime),
            SwitchingNode = switchingNode,
            ServingCell = servingCell,
        },
    };
}
