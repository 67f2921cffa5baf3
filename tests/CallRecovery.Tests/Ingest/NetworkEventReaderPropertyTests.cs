using CallRecovery.Testing;
using CsCheck;
using Microsoft.Extensions.Options;
using CallRecovery.Ingest;
using CallRecovery.Policy;

namespace CallRecovery.Tests.Ingest;

/// <summary>
/// The reader's contract under generated hostile input: every message becomes an accepted event or a
/// <see cref="RejectedEvent"/> with an error code, never an exception; a rejection's message repeats nothing from the
/// input and has no control characters; an accepted event has well-formed ids and times in protobuf's range.
/// </summary>
public class NetworkEventReaderPropertyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset EarliestTimestamp = DateTimeOffset.UnixEpoch.AddSeconds(HostileEvents.MinTimestampSeconds);
    private static readonly DateTimeOffset LatestTimestamp = DateTimeOffset.UnixEpoch.AddSeconds(HostileEvents.MaxTimestampSeconds).AddTicks(TimeSpan.TicksPerSecond - 1);

    private static readonly NetworkEventReader Reader = new(Options.Create(new EventValidationOptions()), new FixedTime(Now));

    [Fact]
    public void Good_events_are_accepted_with_well_formed_ids_and_times() =>
        HostileEvents.Good(Now).Sample(AssertAccepted, iter: 400, print: Print);

    [Fact]
    public void Unknown_fields_around_and_inside_a_good_event_are_ignored() =>
        HostileEvents.WithUnknownFields(Now).Sample(AssertAccepted, iter: 400, print: Print);

    [Fact]
    public void Timestamps_outside_the_protobuf_range_are_rejected_not_thrown() =>
        HostileEvents.TimestampsOutOfRange(Now).Sample(AssertRejected, iter: 500, print: Print);

    [Fact]
    public void Future_timestamps_are_rejected_without_repeating_the_time() =>
        HostileEvents.FutureTimestamps(Now).Sample(AssertRejected, iter: 200, print: Print);

    [Fact]
    public void Truncated_messages_and_varints_are_rejected() =>
        HostileEvents.Truncated(Now).Sample(AssertRejected, iter: 500, print: Print);

    [Fact]
    public void Invalid_utf8_in_protobuf_strings_and_json_is_rejected() =>
        HostileEvents.InvalidUtf8(Now).Sample(AssertRejected, iter: 400, print: Print);

    [Fact]
    public void Enum_values_the_contract_does_not_define_are_rejected() =>
        HostileEvents.UnknownEnums(Now).Sample(AssertRejected, iter: 300, print: Print);

    [Fact]
    public void Huge_ids_and_numbers_are_rejected_without_being_repeated() =>
        HostileEvents.HugeStrings(Now).Sample(AssertRejected, iter: 60, print: Print);

    [Fact]
    public void Ids_and_numbers_with_braces_control_characters_non_ascii_or_spaces_are_rejected() =>
        HostileEvents.OddCharacterIds(Now).Sample(AssertRejected, iter: 500, print: Print);

    [Fact]
    public void Deeply_nested_json_and_protobuf_are_rejected() =>
        HostileEvents.DeepNesting.Sample(AssertRejected, iter: 80, print: Print);

    [Fact]
    public void A_phone_number_in_a_time_cause_or_flag_is_rejected_without_being_repeated() =>
        HostileEvents.WrongTypesInJson(Now).Sample(AssertRejected, iter: 300, print: Print);

    [Fact]
    public void Unsupported_content_types_are_rejected_without_being_repeated() =>
        HostileEvents.OddContentTypes(Now).Sample(AssertRejected, iter: 200, print: Print);

    [Fact]
    public void Tombstones_and_empty_values_are_rejected() =>
        HostileEvents.TombstonesAndEmptyValues.Sample(AssertRejected, iter: 100, print: Print);

    [Fact]
    public void Random_bytes_are_rejected() =>
        HostileEvents.Garbage.Sample(AssertRejected, iter: 600, print: Print);

    [Fact]
    public void Unknown_fields_do_not_hide_a_fault_and_malformed_ones_are_rejected() =>
        HostileEvents.UnknownFieldsWithFault(Now).Sample(AssertRejected, iter: 400, print: Print);

    [Fact]
    public void Any_mix_of_hostile_messages_is_rejected_cleanly() =>
        HostileEvents.Hostile(Now, maxHugeLength: 100_000).Sample(AssertRejected, iter: 600, print: Print);

    private static void AssertAccepted(HostileMessage message)
    {
        var read = Reader.Read(message.ToKafkaMessage());
        switch (read)
        {
            case DropReported drop:
                AssertWellFormed(drop, message);
                Assert.True(drop.Drop.AnswerTime is null || InProtobufRange(drop.Drop.AnswerTime.Value), "answer time outside the protobuf range");
                Assert.True(InProtobufRange(drop.Drop.DropTime), "drop time outside the protobuf range");
                break;
            case ConnectionReported connection:
                AssertWellFormed(connection, message);
                Assert.True(InProtobufRange(connection.AnswerTime), "answer time outside the protobuf range");
                break;
            case RejectedEvent rejected:
                Assert.Fail($"rejected a valid event: {rejected.ErrorCode}: {rejected.Message}");
                break;
            default:
                Assert.Fail($"unexpected result {read.GetType().Name}");
                break;
        }
    }

    private static void AssertWellFormed(IngestedEvent read, HostileMessage message)
    {
        Assert.Equal(message.Key, read.CallId);
        Assert.True(IsId(read.EventId, 128), "event id is not 1-128 printable ASCII characters without braces");
        Assert.True(IsId(read.CallId, 256), "call id is not 1-256 printable ASCII characters without braces");
    }

    private static void AssertRejected(HostileMessage message)
    {
        var read = Reader.Read(message.ToKafkaMessage());
        if (read is not RejectedEvent rejected)
        {
            Assert.Fail($"accepted as {read.GetType().Name}");
            return;
        }

        Assert.False(string.IsNullOrWhiteSpace(rejected.ErrorCode), "no error code");
        if (rejected.Message.Any(char.IsControl))
        {
            Assert.Fail($"{rejected.ErrorCode}: the message has a control character: {Escape(rejected.Message)}");
        }

        foreach (var planted in message.Planted)
        {
            if (rejected.Message.Contains(planted, StringComparison.Ordinal))
            {
                Assert.Fail($"{rejected.ErrorCode}: the message repeats the input's \"{Escape(planted)}\": {Escape(rejected.Message)}");
            }
        }
    }

    private static bool IsId(string id, int maxLength) =>
        id.Length >= 1 && id.Length <= maxLength && id.All(c => c is >= '!' and <= '~' and not '{' and not '}');

    private static bool InProtobufRange(DateTimeOffset time) => time >= EarliestTimestamp && time <= LatestTimestamp;

    private static string Print(HostileMessage message) => message.ToString();

    private static string Escape(string text)
    {
        var shown = text.Length > 300 ? text[..300] + "..." : text;
        return string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : new string(c, 1)));
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
