using System.Text.Json;
using System.Text.Json.Serialization;
using CallRecovery.Decisions;

namespace CallRecovery.Store;

/// <summary>One decision, as stored per report under its call and shown to engineers. Holds no phone numbers.</summary>
public sealed record DecisionRecord
{
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

    public string ToJson() => JsonSerializer.Serialize(this, StoreJson.Default.DecisionRecord);

    public static DecisionRecord FromJson(string json) =>
        JsonSerializer.Deserialize(json, StoreJson.Default.DecisionRecord) ?? throw new FormatException("Empty decision record.");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(DecisionReasonJsonConverter)])]
[JsonSerializable(typeof(DecisionRecord))]
internal sealed partial class StoreJson : JsonSerializerContext;

/// <summary>Reasons travel as their snake_case wire names, which the Lua scripts also write ("duplicate").</summary>
internal sealed class DecisionReasonJsonConverter : JsonConverter<DecisionReason>
{
    public override DecisionReason Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DecisionReasonNames.FromWireName(reader.GetString() ?? string.Empty);

    public override void Write(Utf8JsonWriter writer, DecisionReason value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToWireName());
}
