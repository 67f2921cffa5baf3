using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Microsoft.Extensions.Options;
using CallRecovery.Policy;

namespace CallRecovery.Ingest;

/// <summary>
/// Turns a Kafka message into a validated event. Binary protobuf by default; canonical protobuf JSON when the
/// `content-type` header says application/json. Never throws, whatever the bytes: it says what is wrong with a
/// code and a message of its own words, never echoing the input (which may hold phone numbers).
/// </summary>
public sealed class NetworkEventReader(IOptions<EventValidationOptions> options, TimeProvider time)
{
    public const string ContentTypeHeader = "content-type";

    /// <summary>Longest event id, call id and other free-text fields: far beyond any real one, small enough for a Redis key or a log line.</summary>
    public const int MaxEventIdLength = 128;
    public const int MaxCallIdLength = 256;
    public const int MaxTextLength = 128;

    // Deep JSON is refused by the parser (its recursion limit), not by the stack.
    private static readonly JsonParser Json = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true).WithRecursionLimit(16));
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private readonly EventValidationOptions _options = options.Value;

    public IngestedEvent Read(Message<byte[]?, byte[]?> message)
    {
        try
        {
            return ReadUnguarded(message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A defect, not bad input: still this event's problem alone. The type names the defect; the text could echo input.
            return new RejectedEvent("reader_error", $"The event could not be read ({e.GetType().Name}).", string.Empty, string.Empty);
        }
    }

    private IngestedEvent ReadUnguarded(Message<byte[]?, byte[]?> message)
    {
        if (message.Value is null)
        {
            return new RejectedEvent("tombstone", "The message has no value (a tombstone); events are never deleted.", string.Empty, string.Empty);
        }

        var contentType = ContentType(message.Headers);
        NetworkEvent envelope;
        switch (contentType)
        {
            case null or "application/x-protobuf" or "application/protobuf" or "application/vnd.google.protobuf":
                try
                {
                    envelope = NetworkEvent.Parser.ParseFrom(message.Value);
                }
                catch (Exception e) when (e is InvalidProtocolBufferException or DecoderFallbackException or ArgumentException)
                {
                    return new RejectedEvent("parse_error", "The value is not a NetworkEvent in protobuf binary (truncated, invalid UTF-8 in a string, or not protobuf).", string.Empty, string.Empty);
                }

                break;
            case "application/json":
                try
                {
                    envelope = Json.Parse<NetworkEvent>(StrictUtf8.GetString(message.Value));
                }
                catch (DecoderFallbackException)
                {
                    return new RejectedEvent("parse_error", "The value is not valid UTF-8.", string.Empty, string.Empty);
                }
                catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException or ArgumentException or InvalidOperationException)
                {
                    // The parser's own text repeats the offending value; say only what kind of problem it was.
                    return new RejectedEvent("parse_error", $"The value is not a NetworkEvent in canonical protobuf JSON ({e.GetType().Name}).", string.Empty, string.Empty);
                }

                break;
            default:
                return new RejectedEvent("unsupported_content_type", "The content-type header names a format other than application/x-protobuf or application/json.", string.Empty, string.Empty);
        }

        return envelope.EventCase switch
        {
            NetworkEvent.EventOneofCase.CallDropped => Validate(envelope.CallDropped),
            NetworkEvent.EventOneofCase.CallConnected => Validate(envelope.CallConnected),
            NetworkEvent.EventOneofCase.SubscriberReachable => Validate(envelope.SubscriberReachable),
            NetworkEvent.EventOneofCase.CellInService => Validate(envelope.CellInService),
            NetworkEvent.EventOneofCase.CustomerResponded => Validate(envelope.CustomerResponded),
            _ => new RejectedEvent("empty_event", "The message holds none of callDropped, callConnected, subscriberReachable, cellInService, customerResponded.", string.Empty, string.Empty),
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
                var bytes = header.GetValueBytes();
                return bytes is null ? null : Encoding.UTF8.GetString(bytes).Split(';')[0].Trim().ToLowerInvariant();
            }
        }

        return null;
    }

    private IngestedEvent Validate(CallDropped e)
    {
        var problem = CheckIds(e.EventId, e.CallId)
            ?? CheckNumbers(e.Caller, e.Callee)
            ?? (e.ReleaseCause is null || e.ReleaseCause.Protocol == CauseProtocol.Unspecified ? Problem("missing_field", "releaseCause with a protocol is required.") : null)
            ?? CheckEnum(e.ReleaseCause!.Protocol, "releaseCause.protocol")
            ?? CheckText(e.ReleaseCause.Name, "releaseCause.name")
            ?? CheckEnum(e.DroppedParty, "droppedParty")
            ?? CheckEnum(e.AccessTechnology, "accessTechnology")
            ?? CheckText(e.ServingCell, "servingCell")
            ?? CheckText(e.SwitchingNode, "switchingNode")
            ?? CheckText(e.Reporter, "reporter")
            ?? CheckTimestamp(e.AnswerTime, "answerTime", required: false)
            ?? CheckTimestamp(e.DropTime, "dropTime", required: true)
            ?? CheckTimes(e.AnswerTime?.ToDateTimeOffset(), e.DropTime.ToDateTimeOffset());
        if (problem is { } error)
        {
            return new RejectedEvent(error.Code, error.Message, IdOrEmpty(e.EventId, MaxEventIdLength), IdOrEmpty(e.CallId, MaxCallIdLength));
        }

        return new DropReported(new CallDrop(
            e.EventId,
            e.CallId,
            e.Caller,
            e.Callee,
            e.DroppedParty,
            ReleaseCauseKey.From(e.ReleaseCause!),
            e.AnswerTime?.ToDateTimeOffset(),
            e.DropTime.ToDateTimeOffset(),
            e.ServingCell,
            e.SwitchingNode,
            e.AccessTechnology,
            e.Emergency,
            e.Reporter) { Vulnerable = e.Vulnerable });
    }

    private IngestedEvent Validate(CallConnected e)
    {
        var problem = CheckIds(e.EventId, e.CallId)
            ?? CheckNumbers(e.Caller, e.Callee)
            ?? CheckText(e.SwitchingNode, "switchingNode")
            ?? CheckText(e.ServingCell, "servingCell")
            ?? CheckTimestamp(e.AnswerTime, "answerTime", required: true)
            ?? CheckTimes(null, e.AnswerTime.ToDateTimeOffset());
        return problem is { } error
            ? new RejectedEvent(error.Code, error.Message, IdOrEmpty(e.EventId, MaxEventIdLength), IdOrEmpty(e.CallId, MaxCallIdLength))
            : new ConnectionReported(e.EventId, e.CallId, e.Caller, e.Callee, e.AnswerTime.ToDateTimeOffset(), e.SwitchingNode, e.Emergency, e.ServingCell);
    }

    private IngestedEvent Validate(SubscriberReachable e)
    {
        var problem = CheckEventId(e.EventId)
            ?? (PhoneNumbers.IsE164(e.Number) ? null : Problem("malformed_number", "number must be E.164 (e.g. +447700900123)."))
            ?? CheckText(e.ServingCell, "servingCell")
            ?? CheckEnum(e.Reason, "reason")
            ?? CheckTimestamp(e.At, "at", required: true)
            ?? CheckTimes(null, e.At.ToDateTimeOffset());
        return problem is { } error
            ? new RejectedEvent(error.Code, error.Message, IdOrEmpty(e.EventId, MaxEventIdLength), string.Empty)
            : new ReachabilityReported(e.EventId, e.Number, e.At.ToDateTimeOffset(), e.ServingCell);
    }

    private IngestedEvent Validate(CustomerResponded e)
    {
        var problem = CheckEventId(e.EventId)
            ?? (PhoneNumbers.IsE164(e.Number) ? null : Problem("malformed_number", "number must be E.164 (e.g. +447700900123)."))
            ?? CheckEnum(e.Channel, "channel")
            ?? (e.Answer == CustomerAnswer.Unspecified ? Problem("missing_field", "answer is required.") : CheckEnum(e.Answer, "answer"))
            ?? (e.Answer == CustomerAnswer.NoCallbacksForDays && e.Days is < 1 or > 365 ? Problem("malformed_field", "days must be 1-365 for NO_CALLBACKS_FOR_DAYS.") : null)
            ?? CheckTimestamp(e.At, "at", required: true)
            ?? CheckTimes(null, e.At.ToDateTimeOffset());
        return problem is { } error
            ? new RejectedEvent(error.Code, error.Message, IdOrEmpty(e.EventId, MaxEventIdLength), string.Empty)
            : new CustomerResponse(e.EventId, e.Number, ChannelName(e.Channel), e.Answer == CustomerAnswer.NoCallbacksForDays ? TimeSpan.FromDays(e.Days) : null, e.At.ToDateTimeOffset());
    }

    private static string ChannelName(ResponseChannel channel) => channel switch
    {
        ResponseChannel.SmsReply => "sms reply",
        ResponseChannel.Ussd => "ussd",
        ResponseChannel.App => "app",
        _ => "unspecified channel",
    };

    private IngestedEvent Validate(CellInService e)
    {
        var problem = CheckEventId(e.EventId)
            ?? (e.ServingCell.Length == 0 ? Problem("missing_field", "servingCell is required.") : CheckText(e.ServingCell, "servingCell"))
            ?? CheckText(e.SwitchingNode, "switchingNode")
            ?? CheckTimestamp(e.At, "at", required: true)
            ?? CheckTimes(null, e.At.ToDateTimeOffset());
        return problem is { } error
            ? new RejectedEvent(error.Code, error.Message, IdOrEmpty(e.EventId, MaxEventIdLength), string.Empty)
            : new CellInServiceReported(e.EventId, e.ServingCell, e.At.ToDateTimeOffset(), e.SwitchingNode);
    }

    private static (string Code, string Message)? CheckEventId(string eventId) =>
        eventId.Length == 0 ? ("missing_field", "eventId is required.")
        : eventId.Length > MaxEventIdLength || !IsPrintableId(eventId) ? ("malformed_id", $"eventId must be 1-{MaxEventIdLength} printable ASCII characters without braces.")
        : null;

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

        if (eventId.Length > MaxEventIdLength || !IsPrintableId(eventId))
        {
            return ("malformed_id", $"eventId must be 1-{MaxEventIdLength} printable ASCII characters without braces.");
        }

        return callId.Length > MaxCallIdLength || !IsPrintableId(callId)
            ? ("malformed_id", $"callId must be 1-{MaxCallIdLength} printable ASCII characters without braces.")
            : null;
    }

    /// <summary>
    /// The caller may be a short code too: an emergency centre calling back (a call-connected event from 112)
    /// protects the person it calls. Drops from or to short codes are never recovered (the classifier says so).
    /// </summary>
    private static (string Code, string Message)? CheckNumbers(string caller, string callee)
    {
        if (!PhoneNumbers.IsE164(caller) && !PhoneNumbers.IsShortCode(caller))
        {
            return ("malformed_number", "caller must be E.164 (e.g. +447700900123) or a short code of 2-6 digits.");
        }

        return PhoneNumbers.IsE164(callee) || PhoneNumbers.IsShortCode(callee)
            ? null
            : ("malformed_number", "callee must be E.164 (e.g. +447700900123) or a dialled short code of 2-6 digits.");
    }

    private static (string Code, string Message)? CheckEnum<T>(T value, string field)
        where T : struct, System.Enum =>
        System.Enum.IsDefined(value) ? null : ("unknown_enum_value", $"{field} has a value this version does not know.");

    private static (string Code, string Message)? CheckText(string text, string field) =>
        text.Length <= MaxTextLength && (text.Length == 0 || IsPrintable(text))
            ? null
            : ("malformed_field", $"{field} must be at most {MaxTextLength} printable ASCII characters.");

    private static (string Code, string Message)? CheckTimestamp(Timestamp? timestamp, string field, bool required)
    {
        if (timestamp is null)
        {
            return required ? ("missing_field", $"{field} is required.") : null;
        }

        return ProtobufValues.IsValid(timestamp)
            ? null
            : ("invalid_timestamp", $"{field} lies outside the range of a protobuf Timestamp (years 1-9999, nanos 0-999999999).");
    }

    private (string Code, string Message)? CheckTimes(DateTimeOffset? answer, DateTimeOffset end)
    {
        var latest = time.GetUtcNow() + _options.MaxClockSkew;
        if (end > latest)
        {
            return ("future_timestamp", $"The event time lies more than {_options.MaxClockSkew} in the future.");
        }

        if (answer is { } answered && (answered > end || end - answered > _options.MaxCallDuration))
        {
            return ("inconsistent_timestamps", $"answerTime must lie before dropTime and at most {_options.MaxCallDuration} earlier.");
        }

        return null;
    }

    /// <summary>Printable ASCII without spaces and without braces (a brace would break the Redis Cluster hash tag of the call's keys).</summary>
    private static bool IsPrintableId(string id)
    {
        foreach (var c in id)
        {
            if (c <= 0x20 || c > 0x7e || c == '{' || c == '}')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPrintable(string text)
    {
        foreach (var c in text)
        {
            if (c < 0x20 || c > 0x7e)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An id good enough to file an "invalid" decision under (the call id) or to name the report, or empty.</summary>
    private static string IdOrEmpty(string id, int maxLength) => id.Length > 0 && id.Length <= maxLength && IsPrintableId(id) ? id : string.Empty;
}
