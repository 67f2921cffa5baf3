using System.Text.Json;
using System.Text.Json.Serialization;
using CallRecovery.Policy;

namespace CallRecovery.Decisions;

/// <summary>One decision, as stored per report under its call and shown to engineers. Holds no phone numbers.</summary>
public sealed record DecisionRecord
{
    /// <summary>The JSON property that holds <see cref="Reason"/> (its wire name), as the settle script reads it.</summary>
    public const string ReasonProperty = "reason";

    public required string EventId { get; init; }

    public required string CallId { get; init; }

    public required DecisionReason Reason { get; init; }

    public string Detail { get; init; } = string.Empty;

    public required DateTimeOffset DecidedAt { get; init; }

    public string? RecoveryId { get; init; }

    public string? Cause { get; init; }

    public string? DroppedParty { get; init; }

    public DateTimeOffset? DropTime { get; init; }

    public double? AnsweredSeconds { get; init; }

    public string? ServingCell { get; init; }

    public string? SwitchingNode { get; init; }

    public string? Reporter { get; init; }

    /// <summary>The decision as Redis stores it: JSON, UTF-8 (no string made first and encoded again).</summary>
    public byte[] ToJsonUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, StoreJson.Default.DecisionRecord);

    public static DecisionRecord FromJson(string json) =>
        JsonSerializer.Deserialize(json, StoreJson.Default.DecisionRecord) ?? throw new FormatException("Empty decision record.");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DecisionRecord))]
internal sealed partial class StoreJson : JsonSerializerContext;
