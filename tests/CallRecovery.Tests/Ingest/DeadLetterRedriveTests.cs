using System.Text;
using CallRecovery.Contracts.V1;
using CallRecovery.Ingest;
using CallRecovery.Kafka;
using CallRecovery.Policy;
using Confluent.Kafka;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.Tests.Ingest;

public class DeadLetterRedriveTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(5);

    private static DeadLetterRedrive Redrive(TimeSpan maxCallDuration, FakeTimeProvider? time = null)
    {
        time ??= new FakeTimeProvider(Now);
        var reader = new NetworkEventReader(Options.Create(new EventValidationOptions { MaxCallDuration = maxCallDuration }), time);
        return new DeadLetterRedrive(reader, time, Deadline);
    }

    /// <summary>A drop answered 95 s before it dropped a second ago, in JSON with a trace header: too long for a one-minute limit.</summary>
    private static ConsumeResult<byte[]?, byte[]?> Source(DateTimeOffset? dropTime = null) => new()
    {
        Topic = "events",
        Partition = new Partition(3),
        Offset = new Offset(42),
        Message = new Message<byte[]?, byte[]?>
        {
            Key = "icid-1"u8.ToArray(),
            Value = Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(new NetworkEvent
            {
                CallDropped = new CallDropped
                {
                    EventId = "e1",
                    CallId = "icid-1",
                    Caller = "+447700900123",
                    Callee = "+447700900456",
                    DroppedParty = Party.Callee,
                    ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Q850, Code = 41 },
                    AnswerTime = Timestamp.FromDateTimeOffset((dropTime ?? Now.AddSeconds(-1)).AddSeconds(-95)),
                    DropTime = Timestamp.FromDateTimeOffset(dropTime ?? Now.AddSeconds(-1)),
                },
            })),
            Headers = new Headers { { "content-type", "application/json"u8.ToArray() }, { "traceparent", "00-abc-def-01"u8.ToArray() } },
        },
    };

    /// <summary>The dead letter the service writes for <paramref name="source"/>, as read back from partition 0 at offset 17.</summary>
    private static ConsumeResult<byte[]?, byte[]?> Letter(ConsumeResult<byte[]?, byte[]?> source, string code = "inconsistent_timestamps", int limit = 1_000_000) => new()
    {
        Topic = "events.dlq",
        Partition = new Partition(0),
        Offset = new Offset(17),
        Message = DeadLetterPublisher.DeadLetter(source, new RejectedEvent(code, "answerTime must lie before dropTime and at most 00:01:00 earlier.", "e1", "icid-1"), limit),
    };

    private static string Header(Message<byte[]?, byte[]?> message, string name) => Encoding.UTF8.GetString(message.Headers.GetLastBytes(name));

    [Fact]
    public void A_redriven_dead_letter_is_the_original_message_with_where_it_was_redriven_from()
    {
        var source = Source();
        var redriven = DeadLetterRedrive.Redriven(Letter(source), Now);

        Assert.Equal(source.Message.Key, redriven.Key);
        Assert.Equal(source.Message.Value, redriven.Value);
        Assert.Equal(["content-type", "traceparent", DeadLetterRedrive.RedriveHeader], redriven.Headers.Select(h => h.Key));
        Assert.Equal("application/json", Header(redriven, "content-type"));
        Assert.Equal("0/17 at 2026-12-06T10:00:00.000Z", Header(redriven, DeadLetterRedrive.RedriveHeader));
    }

    [Fact]
    public void A_dead_letter_is_judged_by_the_configuration_in_force()
    {
        var letter = Letter(Source());

        var fixedNow = Redrive(maxCallDuration: TimeSpan.FromHours(24)).Check(letter.Message);
        Assert.Equal(RedriveVerdict.WouldDecide, fixedNow.Verdict);
        Assert.Equal(("e1", "icid-1", false), (fixedNow.EventId, fixedNow.CallId, fixedNow.PastDeadline));

        var stillStrict = Redrive(maxCallDuration: TimeSpan.FromMinutes(1)).Check(letter.Message);
        Assert.Equal(RedriveVerdict.StillInvalid, stillStrict.Verdict);
        Assert.Equal("inconsistent_timestamps", stillStrict.Code);
    }

    [Fact]
    public void A_drop_redriven_after_its_callback_deadline_would_be_decided_stale()
    {
        var check = Redrive(TimeSpan.FromHours(24)).Check(Letter(Source(dropTime: Now - Deadline)).Message);
        Assert.Equal(RedriveVerdict.WouldDecide, check.Verdict);
        Assert.True(check.PastDeadline);
    }

    [Fact]
    public void Garbage_stays_invalid_and_a_dead_letter_cut_short_is_not_redriven()
    {
        var garbage = Source();
        garbage.Message.Value = "\u0001not an event"u8.ToArray();
        garbage.Message.Headers = [];
        var check = Redrive(TimeSpan.FromHours(24)).Check(Letter(garbage, "parse_error").Message);
        Assert.Equal((RedriveVerdict.StillInvalid, "parse_error"), (check.Verdict, check.Code));

        var huge = Source();
        huge.Message.Value = new byte[100_000];
        var cut = Redrive(TimeSpan.FromHours(24)).Check(Letter(huge, "parse_error", limit: 10_000).Message);
        Assert.Equal(RedriveVerdict.Incomplete, cut.Verdict);
        Assert.Contains("100000 bytes", cut.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dead_letter_goes_back_to_its_source_topic_or_else_the_first_input_topic()
    {
        var options = new KafkaOptions { InputTopics = ["network-events", "more-events"] };
        var origin = DeadLetterOrigin.Of(Letter(Source()).Message.Headers);
        Assert.Equal(("inconsistent_timestamps", "events", (int?)3, (long?)42L), (origin.ErrorCode, origin.SourceTopic, origin.SourcePartition, origin.SourceOffset));
        Assert.Equal("events", DeadLetterRedrive.DestinationOf(origin, options));
        Assert.Equal("network-events", DeadLetterRedrive.DestinationOf(origin with { SourceTopic = string.Empty }, options));
    }
}
