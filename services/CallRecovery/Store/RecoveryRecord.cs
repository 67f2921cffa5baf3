using System.Globalization;
using StackExchange.Redis;

namespace CallRecovery.Store;

/// <summary>An accepted recovery: who to call back, whom to reconnect, and the state later stages advance.</summary>
public sealed record RecoveryRecord
{
    public required string RecoveryId { get; init; }

    public required string CallId { get; init; }

    public required RecoveryState State { get; init; }

    /// <summary>The customer to call back (E.164). Personal data: mask before showing.</summary>
    public required string CallBack { get; init; }

    /// <summary>The party to reconnect the customer to (E.164). Personal data: mask before showing.</summary>
    public required string OtherParty { get; init; }

    public required DateTimeOffset DropTime { get; init; }

    public required DateTimeOffset AcceptedAt { get; init; }

    public required string EventId { get; init; }

    public string Cause { get; init; } = string.Empty;

    public string ServingCell { get; init; } = string.Empty;

    public string SwitchingNode { get; init; } = string.Empty;

    public string AccessTechnology { get; init; } = string.Empty;

    public HashEntry[] ToHashEntries() =>
    [
        new("recoveryId", RecoveryId),
        new("callId", CallId),
        new("state", State.ToString()),
        new("callBack", CallBack),
        new("otherParty", OtherParty),
        new("dropTime", DropTime.ToUnixTimeMilliseconds()),
        new("acceptedAt", AcceptedAt.ToUnixTimeMilliseconds()),
        new("eventId", EventId),
        new("cause", Cause),
        new("servingCell", ServingCell),
        new("switchingNode", SwitchingNode),
        new("accessTechnology", AccessTechnology),
    ];

    public static RecoveryRecord FromHash(HashEntry[] entries)
    {
        var fields = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        string Field(string name) => fields.GetValueOrDefault(name, string.Empty);
        DateTimeOffset Time(string name) => DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(Field(name), CultureInfo.InvariantCulture));
        return new RecoveryRecord
        {
            RecoveryId = Field("recoveryId"),
            CallId = Field("callId"),
            State = Enum.Parse<RecoveryState>(Field("state")),
            CallBack = Field("callBack"),
            OtherParty = Field("otherParty"),
            DropTime = Time("dropTime"),
            AcceptedAt = Time("acceptedAt"),
            EventId = Field("eventId"),
            Cause = Field("cause"),
            ServingCell = Field("servingCell"),
            SwitchingNode = Field("switchingNode"),
            AccessTechnology = Field("accessTechnology"),
        };
    }
}

/// <summary>Where a recovery stands. Decisions create it as <see cref="Pending"/>; dispatch advances it.</summary>
public enum RecoveryState
{
    Pending,
}
