using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Microsoft.Extensions.Options;
using CallRecovery.Ingest;
using CallRecovery.Policy;

namespace CallRecovery.Tests.Ingest;

public class NetworkEventReaderTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    private static NetworkEventReader Reader() => new(Options.Create(new EventValidationOptions()), new FixedTime(Now));

    private static CallDropped Dropped() => new()
    {
        EventId = "e1",
        CallId = "icid-1",
        Caller = "+447700900123",
        Callee = "+447700900456",
        DroppedParty = Party.Callee,
        ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Q850, Code = 41 },
        AnswerTime = Timestamp.FromDateTimeOffset(Now.AddMinutes(-2)),
        DropTime = Timestamp.FromDateTimeOffset(Now.AddSeconds(-1)),
    };

    private static Message<byte[]?, byte[]?> Message(byte[] value, string? contentType = null)
    {
        var headers = new Headers();
        if (contentType is not null)
        {
            headers.Add("content-type", Encoding.UTF8.GetBytes(contentType));
        }

        return new Message<byte[]?, byte[]?> { Value = value, Headers = headers };
    }

    [Fact]
    public void Binary_protobuf_is_the_default()
    {
        var read = Reader().Read(Message(new NetworkEvent { CallDropped = Dropped() }.ToByteArray()));
        var drop = Assert.IsType<DropReported>(read).Drop;
        Assert.Equal("icid-1", drop.CallId);
        Assert.Equal("q850:41", drop.Cause.Value);
        Assert.Equal(TimeSpan.FromSeconds(119), drop.AnsweredDuration);
    }

    [Fact]
    public void Canonical_json_is_read_when_the_header_says_so()
    {
        var json = JsonFormatter.Default.Format(new NetworkEvent { CallDropped = Dropped() });
        var read = Reader().Read(Message(Encoding.UTF8.GetBytes(json), "application/json; charset=utf-8"));
        Assert.Equal("icid-1", Assert.IsType<DropReported>(read).Drop.CallId);
    }

    [Fact]
    public void The_readme_json_example_is_valid()
    {
        const string json = """
            {"callDropped": {"eventId": "probe-7-0001", "callId": "icid-5f1c2a", "caller": "+447700900123", "callee": "+447700900456",
             "droppedParty": "PARTY_CALLER", "releaseCause": {"protocol": "CAUSE_PROTOCOL_Q850", "code": 41},
             "answerTime": "2026-11-22T09:58:00Z", "dropTime": "2026-11-22T09:59:59Z", "servingCell": "234-15-1a2b-0c",
             "switchingNode": "msc-lon-1", "accessTechnology": "ACCESS_TECHNOLOGY_EUTRAN", "emergency": false}}
            """;
        Assert.IsType<DropReported>(Reader().Read(Message(Encoding.UTF8.GetBytes(json), "application/json")));
    }

    [Fact]
    public void A_customers_answer_is_read_with_how_long_they_want_no_callbacks()
    {
        var answer = new CustomerResponded { EventId = "r1", Number = "+447700900123", Channel = ResponseChannel.Ussd, Answer = CustomerAnswer.NoCallbacksForDays, Days = 2, At = Timestamp.FromDateTimeOffset(Now) };
        var read = Assert.IsType<CustomerResponse>(Reader().Read(Message(new NetworkEvent { CustomerResponded = answer }.ToByteArray())));
        Assert.Equal(("+447700900123", "ussd", TimeSpan.FromDays(2), Now), (read.Number, read.Channel, read.NotFor, read.At));

        answer.Answer = CustomerAnswer.CancelCallbacks;
        Assert.Null(Assert.IsType<CustomerResponse>(Reader().Read(Message(new NetworkEvent { CustomerResponded = answer }.ToByteArray()))).NotFor);
    }

    [Theory]
    [InlineData(CustomerAnswer.Unspecified, 0u, "+447700900123", "missing_field")]
    [InlineData(CustomerAnswer.NoCallbacksForDays, 0u, "+447700900123", "malformed_field")]
    [InlineData(CustomerAnswer.NoCallbacksForDays, 366u, "+447700900123", "malformed_field")]
    [InlineData((CustomerAnswer)9, 0u, "+447700900123", "unknown_enum_value")]
    [InlineData(CustomerAnswer.CancelCallbacks, 0u, "07700900123", "malformed_number")]
    public void A_customers_answer_that_cannot_be_meant_is_rejected(CustomerAnswer answer, uint days, string number, string expected)
    {
        var message = new CustomerResponded { EventId = "r1", Number = number, Channel = ResponseChannel.SmsReply, Answer = answer, Days = days, At = Timestamp.FromDateTimeOffset(Now) };
        Assert.Equal(expected, Assert.IsType<RejectedEvent>(Reader().Read(Message(new NetworkEvent { CustomerResponded = message }.ToByteArray()))).ErrorCode);
    }

    [Theory]
    [InlineData("garbage", null, "parse_error")]
    [InlineData("{not json", "application/json", "parse_error")]
    [InlineData("{}", "text/csv", "unsupported_content_type")]
    [InlineData("{}", "application/json", "empty_event")]
    public void Unreadable_messages_are_rejected_with_a_reason(string value, string? contentType, string expected)
    {
        var read = Reader().Read(Message(Encoding.UTF8.GetBytes(value), contentType));
        Assert.Equal(expected, Assert.IsType<RejectedEvent>(read).ErrorCode);
    }

    public static TheoryData<string, Action<CallDropped>> InvalidEvents => new()
    {
        { "missing_field", e => e.CallId = string.Empty },
        { "missing_field", e => e.EventId = string.Empty },
        { "malformed_number", e => e.Caller = "07700900123" },
        { "malformed_number", e => e.Callee = "+44 7700 900456" },
        { "malformed_id", e => e.CallId = "a{b}" },
        { "missing_field", e => e.ReleaseCause = null },
        { "missing_field", e => e.DropTime = null },
        { "inconsistent_timestamps", e => e.AnswerTime = Timestamp.FromDateTimeOffset(Now.AddMinutes(1)) },
        { "future_timestamp", e => e.DropTime = Timestamp.FromDateTimeOffset(Now.AddHours(1)) },
        { "invalid_timestamp", e => e.DropTime = new Timestamp { Seconds = e.DropTime.Seconds, Nanos = -1 } },
        { "invalid_timestamp", e => e.DropTime = new Timestamp { Seconds = 253_402_300_800 } },
        { "invalid_timestamp", e => e.AnswerTime = new Timestamp { Seconds = e.AnswerTime.Seconds, Nanos = 1_000_000_000 } },
        { "invalid_timestamp", e => e.AnswerTime = new Timestamp { Seconds = -62_135_596_801 } },
        { "unknown_enum_value", e => e.DroppedParty = (Party)7 },
        { "unknown_enum_value", e => e.AccessTechnology = (AccessTechnology)99 },
        { "unknown_enum_value", e => e.ReleaseCause.Protocol = (CauseProtocol)42 },
        { "malformed_id", e => e.CallId = new string('c', 257) },
        { "malformed_id", e => e.EventId = "line\nbreak" },
        { "malformed_id", e => e.CallId = "tab\tinside" },
        { "malformed_field", e => e.ServingCell = "cell\r\nforged log line" },
        { "malformed_field", e => e.Reporter = new string('r', 10_000) },
        { "malformed_field", e => e.ReleaseCause.Name = "n\u00e9e" },
    };

    [Fact]
    public void A_connected_event_with_an_out_of_range_answer_time_is_rejected_not_thrown()
    {
        var connected = new CallConnected { EventId = "c1", CallId = "call-2", Caller = "+447700900123", Callee = "+447700900456", AnswerTime = new Timestamp { Seconds = 10, Nanos = -1 } };
        var rejected = Assert.IsType<RejectedEvent>(Reader().Read(Message(new NetworkEvent { CallConnected = connected }.ToByteArray())));
        Assert.Equal("invalid_timestamp", rejected.ErrorCode);
        Assert.Equal("call-2", rejected.CallId);
    }

    [Fact]
    public void An_emergency_centre_may_be_the_caller_of_a_connected_event()
    {
        var connected = new CallConnected { EventId = "c1", CallId = "call-2", Caller = "112", Callee = "+447700900456", AnswerTime = Timestamp.FromDateTimeOffset(Now.AddSeconds(-5)) };
        Assert.IsType<ConnectionReported>(Reader().Read(Message(new NetworkEvent { CallConnected = connected }.ToByteArray())));
    }

    [Fact]
    public void A_tombstone_is_rejected_as_such()
    {
        var rejected = Assert.IsType<RejectedEvent>(Reader().Read(new Message<byte[]?, byte[]?> { Key = "k"u8.ToArray(), Value = null }));
        Assert.Equal("tombstone", rejected.ErrorCode);
    }

    [Theory]
    [InlineData("""{"callDropped": {"eventId": "e1", "callId": "c1", "dropTime": "+447911123456"}}""")]
    [InlineData("""{"callDropped": {"eventId": "e1", "callId": "c1", "releaseCause": {"protocol": "+447911123456"}}}""")]
    [InlineData("""{"callDropped": {"eventId": "e1", "callId": "c1", "releaseCause": {"code": "+447911123456"}}}""")]
    public void A_rejection_never_repeats_the_value_it_was_given(string json)
    {
        var rejected = Assert.IsType<RejectedEvent>(Reader().Read(Message(Encoding.UTF8.GetBytes(json), "application/json")));
        Assert.DoesNotContain("447911123456", rejected.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deeply_nested_json_is_rejected_not_a_stack_overflow()
    {
        var json = "{\"callDropped\": " + new string('[', 100_000) + new string(']', 100_000) + "}";
        Assert.Equal("parse_error", Assert.IsType<RejectedEvent>(Reader().Read(Message(Encoding.UTF8.GetBytes(json), "application/json"))).ErrorCode);
    }

    [Fact]
    public void Invalid_utf8_in_a_binary_string_field_is_a_parse_error()
    {
        // Field 1 (call_dropped), length 4: field 1 (event_id), length 2, bytes C3 28 (not UTF-8).
        var read = Reader().Read(Message([0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28]));
        Assert.Equal("parse_error", Assert.IsType<RejectedEvent>(read).ErrorCode);
    }

    [Theory]
    [MemberData(nameof(InvalidEvents))]
    public void Invalid_events_are_rejected_and_keep_their_call_id(string expected, Action<CallDropped> spoil)
    {
        var dropped = Dropped();
        spoil(dropped);
        var rejected = Assert.IsType<RejectedEvent>(Reader().Read(Message(new NetworkEvent { CallDropped = dropped }.ToByteArray())));
        Assert.Equal(expected, rejected.ErrorCode);
        Assert.NotEmpty(rejected.Message);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
