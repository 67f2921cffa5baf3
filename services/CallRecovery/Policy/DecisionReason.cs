using System.Text.Json;
using System.Text.Json.Serialization;

namespace CallRecovery.Policy;

/// <summary>What was decided for one reported call drop. Everything but <see cref="Accepted"/> suppresses the recovery.</summary>
[JsonConverter(typeof(DecisionReasonJsonConverter))]
public enum DecisionReason
{
    /// <summary>A recovery was created for the call.</summary>
    Accepted,
    /// <summary>The release cause is normal clearing, a user hang-up or an operator release, not a network drop.</summary>
    NormalClearing,
    /// <summary>The call was never answered: a set-up failure, not a drop.</summary>
    NeverAnswered,
    /// <summary>The call was answered for less than the minimum duration.</summary>
    TooShort,
    /// <summary>Another report of the same call already led to its recovery.</summary>
    Duplicate,
    /// <summary>The subscriber reached the limit of recoveries in the window, or is in the cool-off after the last one.</summary>
    RateLimited,
    /// <summary>The subscriber (or the party to reconnect) opted out of recovery calls.</summary>
    OptedOut,
    /// <summary>Emergency number, or a destination excluded by prefix (premium, short codes).</summary>
    ExcludedDestination,
    /// <summary>A party made an emergency call recently; nothing of ours may call them during the protection period.</summary>
    EmergencyProtection,
    /// <summary>The event failed validation and went to the dead-letter topic.</summary>
    Invalid,
    /// <summary>The callback deadline had already passed when the drop was decided (a backlog read late): no recovery, no place in any window.</summary>
    Stale,
    /// <summary>The two parties reached each other again after the drop (a call-connected event, in whatever order the events came).</summary>
    ReconnectedAlready,
    /// <summary>The customer asked for no callbacks for a while (a CustomerResponded event: an SMS reply, USSD, the app).</summary>
    CustomerNotNow,
}

public static class DecisionReasonNames
{
    /// <summary>The snake_case name used in stored records, metrics and logs.</summary>
    public static string ToWireName(this DecisionReason reason) => reason switch
    {
        DecisionReason.Accepted => "accepted",
        DecisionReason.NormalClearing => "normal_clearing",
        DecisionReason.NeverAnswered => "never_answered",
        DecisionReason.TooShort => "too_short",
        DecisionReason.Duplicate => "duplicate",
        DecisionReason.RateLimited => "rate_limited",
        DecisionReason.OptedOut => "opted_out",
        DecisionReason.ExcludedDestination => "excluded_destination",
        DecisionReason.EmergencyProtection => "emergency_protection",
        DecisionReason.Invalid => "invalid",
        DecisionReason.Stale => "stale",
        DecisionReason.ReconnectedAlready => "reconnected_already",
        DecisionReason.CustomerNotNow => "customer_not_now",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    public static DecisionReason FromWireName(string name)
    {
        foreach (var reason in Enum.GetValues<DecisionReason>())
        {
            if (reason.ToWireName() == name)
            {
                return reason;
            }
        }

        throw new FormatException($"Unknown decision reason '{name}'.");
    }
}

/// <summary>Reasons travel as their snake_case wire names, which the Lua scripts also write ("duplicate").</summary>
public sealed class DecisionReasonJsonConverter : JsonConverter<DecisionReason>
{
    public override DecisionReason Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DecisionReasonNames.FromWireName(reader.GetString() ?? string.Empty);

    public override void Write(Utf8JsonWriter writer, DecisionReason value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToWireName());
}
