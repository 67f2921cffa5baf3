using System.Text;
using CallRecovery.Contracts.V1;
using CallRecovery.Decisions;
using Confluent.Kafka;
using Google.Protobuf;
using Microsoft.Extensions.Options;

namespace CallRecovery.Ingest;

/// <summary>What one Kafka message turned out to be.</summary>
public abstract record IngestedEvent(string EventId, string CallId);

public sealed record DropReported(CallDrop Drop) : IngestedEvent(Drop.EventId, Drop.CallId);

public sealed record ConnectionReported(string EventId, string CallId, string Caller, string Callee, DateTimeOffset AnswerTime, string SwitchingNode, bool Emergency)
    : IngestedEvent(EventId, CallId);

/// <summary>Not usable: goes to the dead-letter topic with <see cref="ErrorCode"/> and <see cref="Message"/>. Ids are empty when unknown.</summary>
public sealed record RejectedEvent(string ErrorCode, string Message, string EventId, string CallId) : IngestedEvent(EventId, CallId);

/// <summary>
/// Turns a Kafka message into a validated event. Binary protobuf by default; canonical protobuf JSON when the
/// `content-type` header says application/json. Never throws for bad input: it says what is wrong.
/// </summary>
public sealed class NetworkEventReader(IOptions<EventValidationOptions> options, TimeProvider time)
{
    public const string ContentTypeHeader = "content-type";

    private static readonly JsonParser Json = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private readonly EventValidationOptions _options = options.Value;

    public IngestedEvent Read(Message<byte[]?, byte[]?> message)
    {
        NetworkEvent envelope;
        try
        {
            envelope = Parse(message);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException or DecoderFallbackException or ArgumentException)
        {
            return new RejectedEvent("parse_error", e.Message, string.Empty, string.Empty);
        }
        catch (NotSupportedException e)
        {
            return new RejectedEvent("unsupported_content_type", e.Message, string.Empty, string.Empty);
        }

        return envelope.EventCase switch
        {
            NetworkEvent.EventOneofCase.CallDropped => Validate(envelope.CallDropped),
            NetworkEvent.EventOneofCase.CallConnected => Validate(envelope.CallConnected),
            _ => new RejectedEvent("empty_event", "The message holds neither callDropped nor callConnected.", string.Empty, string.Empty),
        };
    }

    private static NetworkEvent Parse(Message<byte[]?, byte[]?> message)
    {
        var value = message.Value ?? throw new FormatException("The message has no value (tombstone).");
        var contentType = ContentType(message.Headers);
        return contentType switch
        {
            null or "application/x-protobuf" or "application/protobuf" or "application/vnd.google.protobuf" => NetworkEvent.Parser.ParseFrom(value),
            "application/json" => Json.Parse<NetworkEvent>(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(value)),
            _ => throw new NotSupportedException($"Content type '{contentType}' is not supported; use application/x-protobuf or application/json."),
        };
    }

    private static string? ContentType(Headers? headers)
    {
        if (headers is null)
        {
            return null;
        }

        foreach (var header in headers)
        {
            if (string.Equals(header.Key, ContentTypeHeader, StringComparison.OrdinalIgnoreCase))
            {
                var text = Encoding.UTF8.GetString(header.GetValueBytes());
                return text.Split(';')[0].Trim().ToLowerInvariant();
            }
        }

        return null;
    }

    private IngestedEvent Validate(CallDropped e)
    {
        var problem = CheckIds(e.EventId, e.CallId)
            ?? CheckNumbers(e.Caller, e.Callee)
            ?? (e.ReleaseCause is null || e.ReleaseCause.Protocol == CauseProtocol.Unspecified ? Problem("missing_field", "releaseCause with a protocol is required.") : null)
            ?? (e.DropTime is null ? Problem("missing_field", "dropTime is required.") : null)
            ?? CheckTimes(e.AnswerTime?.ToDateTimeOffset(), e.DropTime!.ToDateTimeOffset());
        if (problem is { } error)
        {
            return new RejectedEvent(error.Code, error.Message, e.EventId, IdOrEmpty(e.CallId));
        }

        return new DropReported(new CallDrop(
            e.EventId,
            e.CallId,
            e.Caller,
            e.Callee,
            e.DroppedParty,
            ReleaseCauseKey.From(e.ReleaseCause!),
            e.AnswerTime?.ToDateTimeOffset(),
            e.DropTime!.ToDateTimeOffset(),
            e.ServingCell,
            e.SwitchingNode,
            e.AccessTechnology,
            e.Emergency,
            e.Reporter));
    }

    private IngestedEvent Validate(CallConnected e)
    {
        var problem = CheckIds(e.EventId, e.CallId)
            ?? CheckNumbers(e.Caller, e.Callee)
            ?? (e.AnswerTime is null ? Problem("missing_field", "answerTime is required.") : null)
            ?? CheckTimes(null, e.AnswerTime!.ToDateTimeOffset());
        return problem is { } error
            ? new RejectedEvent(error.Code, error.Message, e.EventId, IdOrEmpty(e.CallId))
            : new ConnectionReported(e.EventId, e.CallId, e.Caller, e.Callee, e.AnswerTime!.ToDateTimeOffset(), e.SwitchingNode, e.Emergency);
    }

    private static (string Code, string Message)? Problem(string code, string message) => (code, message);

    private static (string Code, string Message)? CheckIds(string eventId, string callId)
    {
        if (eventId.Length == 0)
        {
            return ("missing_field", "eventId is required.");
        }

        if (callId.Length == 0)
        {
            return ("missing_field", "callId is required.");
        }

        if (eventId.Length > 128 || !IsPrintableId(eventId))
        {
            return ("malformed_id", "eventId must be 1-128 printable ASCII characters without braces.");
        }

        return callId.Length > 256 || !IsPrintableId(callId)
            ? ("malformed_id", "callId must be 1-256 printable ASCII characters without braces.")
            : null;
    }

    private static (string Code, string Message)? CheckNumbers(string caller, string callee)
    {
        if (!PhoneNumbers.IsE164(caller))
        {
            return ("malformed_number", "caller must be E.164, e.g. +447700900123.");
        }

        return PhoneNumbers.IsE164(callee) || PhoneNumbers.IsShortCode(callee)
            ? null
            : ("malformed_number", "callee must be E.164 (e.g. +447700900123) or a dialled short code of 2-6 digits.");
    }

    private (string Code, string Message)? CheckTimes(DateTimeOffset? answer, DateTimeOffset end)
    {
        var latest = time.GetUtcNow() + _options.MaxClockSkew;
        if (end > latest)
        {
            return ("future_timestamp", $"The event time {end:O} lies more than {_options.MaxClockSkew} in the future.");
        }

        if (answer is { } answered && (answered > end || end - answered > _options.MaxCallDuration))
        {
            return ("inconsistent_timestamps", $"answerTime {answered:O} must lie before dropTime {end:O} and at most {_options.MaxCallDuration} earlier.");
        }

        return null;
    }

    private static bool IsPrintableId(string id)
    {
        foreach (var c in id)
        {
            if (c < 0x21 || c > 0x7e || c == '{' || c == '}')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A call id good enough to file an "invalid" decision under, or empty.</summary>
    private static string IdOrEmpty(string callId) => callId.Length is > 0 and <= 256 && IsPrintableId(callId) ? callId : string.Empty;
}
