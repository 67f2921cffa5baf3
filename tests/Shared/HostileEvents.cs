using System.Globalization;
using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using CsCheck;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using static System.FormattableString;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.Testing;

/// <summary>
/// One Kafka message for the network-event reader. Hostile ones must be rejected (a dead letter with an error code),
/// never thrown on; the ones of kind "good" (and from <see cref="HostileEvents.WithUnknownFields"/>) must be accepted.
/// </summary>
/// <param name="Value">The message value; null is a tombstone.</param>
/// <param name="ContentType">The content-type header; null sends none (binary protobuf).</param>
/// <param name="Key">The message key: the call id where the event has a usable one, else null.</param>
/// <param name="Kind">What is wrong, as a short label ("truncated-varint", "brace-in-id", ...); "good" when nothing is.</param>
public sealed record HostileMessage(byte[]? Value, string? ContentType, string? Key, string Kind)
{
    public const string ContentTypeHeader = "content-type";

    /// <summary>What exactly was done, in a few words (field, value, encoding): for failure reports.</summary>
    public string Detail { get; init; } = string.Empty;

    /// <summary>Texts taken from the input (ids, numbers, bad values) that a rejection message must not repeat.</summary>
    public IReadOnlyList<string> Planted { get; init; } = [];

    public Message<byte[]?, byte[]?> ToKafkaMessage()
    {
        var headers = new Headers();
        if (ContentType is not null)
        {
            headers.Add(ContentTypeHeader, Encoding.UTF8.GetBytes(ContentType));
        }

        return new Message<byte[]?, byte[]?>
        {
            Key = Key is null ? null : Encoding.UTF8.GetBytes(Key),
            Value = Value,
            Headers = headers,
        };
    }

    /// <summary>Short enough for a test report, even for a megabyte value.</summary>
    public override string ToString()
    {
        var value = Value is null ? "null (tombstone)" : Invariant($"{Value.Length} bytes: {Preview(Value, 160)}");
        var contentType = ContentType is null ? "none" : Escape(ContentType);
        return $"{Kind}: {Detail} [content-type {contentType}] {value}";
    }

    private static string Preview(byte[] value, int max)
    {
        var text = new StringBuilder();
        foreach (var b in value.AsSpan(0, Math.Min(value.Length, max)))
        {
            if (b is >= 0x20 and < 0x7f)
            {
                text.Append((char)b);
            }
            else
            {
                text.Append(Invariant($"\\x{b:x2}"));
            }
        }

        return value.Length > max ? text.Append("...").ToString() : text.ToString();
    }

    private static string Escape(string text) =>
        string.Concat(text.Select(c => c is >= ' ' and < '\x7f' ? new string(c, 1) : Invariant($"\\u{(int)c:x4}")));
}

/// <summary>
/// CsCheck generators of Kafka messages for the network-event reader: valid events relative to a given "now", the
/// same with unknown fields, and hostile ones of many kinds, each of which the reader must reject. Shared by the fast
/// tests and the integration tests (which interleave good and hostile messages on a real topic).
/// </summary>
public static class HostileEvents
{
    public const string Json = "application/json";

    /// <summary>0001-01-01T00:00:00Z, the earliest valid protobuf Timestamp.</summary>
    public const long MinTimestampSeconds = -62_135_596_800;

    /// <summary>9999-12-31T23:59:59Z, the last second of the valid protobuf Timestamp range.</summary>
    public const long MaxTimestampSeconds = 253_402_300_799;

    private static readonly string?[] ContentTypes = [null, "application/x-protobuf", Json, "application/json; charset=utf-8"];

    private static readonly Gen<string> Token = Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], 10, 10];

    /// <summary>UK drama-range numbers, +4477009 and five digits (never the 00123/00456 of documentation examples).</summary>
    private static readonly Gen<string> Number = Gen.Int[10_000, 99_999].Select(n => Invariant($"+4477009{n}"));

    /// <summary>0 and 1 are binary (no header, application/x-protobuf), 2 and 3 JSON.</summary>
    private static readonly Gen<int> Formats = Gen.Int[0, 3];

    private static readonly EnumDescriptor PartyType = CallDropped.Descriptor.FindFieldByName("dropped_party").EnumType;
    private static readonly EnumDescriptor AccessType = CallDropped.Descriptor.FindFieldByName("access_technology").EnumType;
    private static readonly EnumDescriptor ProtocolType = ReleaseCause.Descriptor.FindFieldByName("protocol").EnumType;

    private static readonly byte[][] BadUtf8 =
    [
        [0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf],
        [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xc3],
    ];

    /// <summary>Stands in for the bad bytes while JSON is still text (U+E000, private use, encoded EF 80 80).</summary>
    private const char Marker = '\uE000';

    private static readonly (string Kind, string[] Chars)[] OddCharacters =
    [
        ("brace-in-id", ["{", "}", "{}"]),
        ("control-char-in-id", ["\n", "\r", "\0", "\t", "\r\n", "\u001b", "\u007f", "\u0085"]),
        ("non-ascii-in-id", ["é", "中", "€", "\u00a0", "\u200b", "\u202e", "\uff21", "\ufeff", "😀", "\ud800"]),
        ("space-in-id", [" ", "  "]),
    ];

    // ---- Valid events --------------------------------------------------------------------------------------------

    /// <summary>A valid CallDropped: answered 30-600 s before a drop in the 5 s before <paramref name="now"/>, Q.850 41.</summary>
    public static Gen<CallDropped> GoodDrops(DateTimeOffset now) =>
        Gen.Select(Token, Token, Number, Number, Gen.Int[0, 5_000], Gen.Int[30_000, 600_000], Gen.Int[0, 2], Gen.Int[1, 5], Gen.Int[1, 9], Gen.Int[0, 0xffff],
            (eventToken, callToken, caller, callee, dropAgoMs, answeredMs, party, access, node, cell) =>
            {
                var drop = now.AddMilliseconds(-dropAgoMs);
                return new CallDropped
                {
                    EventId = "ev-" + eventToken,
                    CallId = "icid-" + callToken,
                    Caller = caller,
                    Callee = Distinct(callee, caller),
                    DroppedParty = (Party)party,
                    ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Q850, Code = 41 },
                    AnswerTime = Timestamp.FromDateTimeOffset(drop.AddMilliseconds(-answeredMs)),
                    DropTime = Timestamp.FromDateTimeOffset(drop),
                    ServingCell = Invariant($"234-15-{cell:x4}-0c"),
                    SwitchingNode = Invariant($"msc-lon-{node}"),
                    AccessTechnology = (AccessTechnology)access,
                    Reporter = Invariant($"probe-{node}"),
                };
            });

    /// <summary>A valid CallConnected answered in the 5 s before <paramref name="now"/>.</summary>
    public static Gen<CallConnected> GoodConnections(DateTimeOffset now) =>
        Gen.Select(Token, Token, Number, Number, Gen.Int[0, 5_000], Gen.Int[1, 9],
            (eventToken, callToken, caller, callee, answerAgoMs, node) => new CallConnected
            {
                EventId = "ev-" + eventToken,
                CallId = "icid-" + callToken,
                Caller = caller,
                Callee = Distinct(callee, caller),
                AnswerTime = Timestamp.FromDateTimeOffset(now.AddMilliseconds(-answerAgoMs)),
                SwitchingNode = Invariant($"msc-lon-{node}"),
            });

    /// <summary>Valid events, three drops to one connection.</summary>
    public static Gen<NetworkEvent> GoodEvents(DateTimeOffset now) =>
        Gen.Frequency<NetworkEvent>(
            (3, GoodDrops(now).Select(d => new NetworkEvent { CallDropped = d })),
            (1, GoodConnections(now).Select(c => new NetworkEvent { CallConnected = c })));

    /// <summary>Valid events as Kafka messages (kind "good"), binary or JSON, keyed by call id.</summary>
    public static Gen<HostileMessage> Good(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Formats, (e, encoding) => Message(e, encoding, "good", "valid " + EventName(e), Doc(e)) with { Planted = [] });

    /// <summary>
    /// Valid events with unknown fields (kind "unknown-field") around and inside them: in the envelope, the event,
    /// a timestamp and the release cause (binary, by a second occurrence of the field, which merges), or as unknown
    /// JSON members. The reader must accept these, as protobuf's rules say.
    /// </summary>
    public static Gen<HostileMessage> WithUnknownFields(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Formats, UnknownBinaryFields, UnknownJsonMembers,
            (e, encoding, binary, json) => WithUnknown(e, encoding, binary, json, "valid " + EventName(e)));

    // ---- Hostile events ------------------------------------------------------------------------------------------

    /// <summary>Every hostile kind below, mixed.</summary>
    public static Gen<HostileMessage> Hostile(DateTimeOffset now, int maxHugeLength = 1_000_000) =>
        Gen.OneOf<HostileMessage>(
            TimestampsOutOfRange(now),
            FutureTimestamps(now),
            Truncated(now),
            InvalidUtf8(now),
            UnknownEnums(now),
            HugeStrings(now, maxHugeLength),
            OddCharacterIds(now),
            DeepNesting,
            WrongTypesInJson(now),
            OddContentTypes(now),
            TombstonesAndEmptyValues,
            Garbage,
            UnknownFieldsWithFault(now));

    /// <summary>
    /// "timestamp-out-of-range": one timestamp (CallDropped answer_time or drop_time, CallConnected answer_time)
    /// outside protobuf's range: nanos negative or ≥ 1e9, seconds after 9999 or before year 1; in JSON, years of five
    /// digits or 0000, offsets that push 9999-12-31 or 0001-01-01 over the edge, ten fraction digits.
    /// </summary>
    public static Gen<HostileMessage> TimestampsOutOfRange(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Formats, Gen.Bool, OutOfRangeTimestamps(now), OutOfRangeJsonTimestamps,
            (e, encoding, answer, bad, badJson) =>
            {
                var json = encoding >= 2;
                var (field, jsonName) = TimeField(e, answer);
                var doc = Doc(e);
                JsonDoc.SetMember(doc.Event, jsonName, Str(badJson));
                SetTime(e, field, bad);
                var planted = Planted(e);
                string detail;
                if (json)
                {
                    planted.Add(badJson);
                    detail = Invariant($"{jsonName} = \"{badJson}\"");
                }
                else
                {
                    planted.Add(bad.Seconds.ToString(CultureInfo.InvariantCulture));
                    if (Math.Abs((long)bad.Nanos) >= 1_000_000 && bad.Nanos != 1_000_000_000)
                    {
                        planted.Add(bad.Nanos.ToString(CultureInfo.InvariantCulture));
                    }

                    detail = Invariant($"{field}: seconds {bad.Seconds}, nanos {bad.Nanos}");
                }

                return Message(e, encoding, "timestamp-out-of-range", detail, doc) with { Planted = planted };
            });

    /// <summary>"timestamp-future": a valid timestamp, years ahead (2100-9999); the message must not repeat it.</summary>
    public static Gen<HostileMessage> FutureTimestamps(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Formats, Gen.Long[4_102_444_800, MaxTimestampSeconds],
            (e, encoding, seconds) =>
            {
                var future = new Timestamp { Seconds = seconds };
                var (field, jsonName) = TimeField(e, answer: false);
                SetTime(e, field, future);
                return Message(e, encoding, "timestamp-future", Invariant($"{field} = {TimeText(future)}Z"), Doc(e));
            });

    /// <summary>
    /// Cut bytes: "truncated-message" (a valid binary event cut short), "truncated-json", "truncated-varint" (a varint
    /// or tag whose last byte still says "more", inside the event or after it) and "malformed-varint" (eleven bytes).
    /// </summary>
    public static Gen<HostileMessage> Truncated(DateTimeOffset now) =>
        Gen.OneOf<HostileMessage>(
            Gen.Select(GoodEvents(now), Gen.Bool, Gen.Int[1, 100_000],
                (e, json, cut) =>
                {
                    var whole = json ? Encoding.UTF8.GetBytes(Doc(e).ToString()) : e.ToByteArray();
                    var length = 1 + ((cut - 1) % (whole.Length - 1));
                    return new HostileMessage(whole[..length], json ? Json : null, e.Key(), json ? "truncated-json" : "truncated-message")
                    {
                        Detail = Invariant($"{EventName(e)} cut to {length} of {whole.Length} bytes"),
                        Planted = Planted(e),
                    };
                }),
            Gen.Select(GoodEvents(now), Gen.Bool, Gen.Int[0, 3], Gen.Int[14, 100_000], Gen.Byte.Array[1, 9],
                (e, nested, shape, unknownField, continuation) =>
                {
                    var field = shape switch
                    {
                        0 => e.CallDropped is null ? 7 : 5,
                        1 => unknownField,
                        _ => nested ? 1 : 3,
                    };
                    byte[] tail = shape == 3
                        ? [(byte)(0x80 | (field << 3))]
                        : [.. Wire.Tag(field, Wire.Varint), .. continuation.Select(b => (byte)(b | 0x80))];
                    var malformed = shape == 2;
                    if (malformed)
                    {
                        tail = [.. Wire.Tag(field, Wire.Varint), .. Enumerable.Repeat((byte)0xff, 10), 0x01];
                    }

                    var what = shape switch { 3 => "a tag", 2 => Invariant($"field {field}'s 11-byte varint"), _ => Invariant($"field {field}'s varint") };
                    return new HostileMessage(nested ? Wire.WithInnerTail(e, tail) : [.. e.ToByteArray(), .. tail], null, e.Key(), malformed ? "malformed-varint" : "truncated-varint")
                    {
                        Detail = Invariant($"{what} ({tail.Length} bytes) {(malformed ? "never ends" : "is cut")}, {(nested ? "inside " + EventName(e) : "after the event")}"),
                        Planted = Planted(e),
                    };
                }));

    /// <summary>
    /// "invalid-utf8": bytes that are not UTF-8 (overlong forms, surrogates, beyond U+10FFFF, lone continuation or lead
    /// bytes) inside a protobuf string field (hand-encoded tag, length and bytes) or inside a JSON string or member name.
    /// </summary>
    public static Gen<HostileMessage> InvalidUtf8(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Formats, Gen.Int[0, 99], Gen.Int[0, BadUtf8.Length - 1], Token,
            (e, encoding, fieldChoice, badChoice, token) =>
            {
                var bad = BadUtf8[badChoice];
                var prefix = "u8-" + token;
                var planted = Planted(e);
                planted.Add(prefix);
                var badText = string.Join(' ', bad.Select(b => Invariant($"{b:x2}")));
                if (encoding < 2)
                {
                    (int Field, string Name)[] fields = e.CallDropped is null
                        ? [(1, "event_id"), (2, "call_id"), (3, "caller"), (4, "callee"), (6, "switching_node")]
                        : [(1, "event_id"), (2, "call_id"), (3, "caller"), (4, "callee"), (9, "serving_cell"), (10, "switching_node"), (13, "reporter"), (0, "release_cause.name")];
                    var (field, name) = fields[fieldChoice % fields.Length];
                    byte[] value = [.. Encoding.UTF8.GetBytes(prefix), .. bad, .. "-end"u8];
                    var tail = field == 0 ? Wire.Delimited(6, Wire.Delimited(3, value)) : Wire.Delimited(field, value);
                    return new HostileMessage(Wire.WithInnerTail(e, tail), ContentTypes[encoding], e.Key(), "invalid-utf8")
                    {
                        Detail = Invariant($"{name} holds {badText}"),
                        Planted = planted,
                    };
                }

                var doc = Doc(e);
                var bare = prefix + Marker + "-end";
                string[] names = e.CallDropped is null
                    ? ["eventId", "callId", "caller", "callee", "switchingNode", "answerTime", "(member name)"]
                    : ["eventId", "callId", "caller", "callee", "servingCell", "switchingNode", "reporter", "dropTime", "releaseCause.name", "(member name)"];
                var target = names[fieldChoice % names.Length];
                switch (target)
                {
                    case "(member name)":
                        doc.Event.Insert(fieldChoice % doc.Event.Count, (bare, "1"));
                        break;
                    case "releaseCause.name":
                        JsonDoc.SetMember(doc.Cause, "name", Str(bare));
                        break;
                    default:
                        JsonDoc.SetMember(doc.Event, target, Str(bare));
                        break;
                }

                var bytes = Wire.Splice(Encoding.UTF8.GetBytes(doc.ToString()), Encoding.UTF8.GetBytes(new string(Marker, 1)), bad);
                return new HostileMessage(bytes, ContentTypes[encoding], e.Key(), "invalid-utf8")
                {
                    Detail = Invariant($"JSON {target} holds {badText}"),
                    Planted = planted,
                };
            });

    /// <summary>"unknown-enum": dropped_party, access_technology or release_cause.protocol set to a number the enum lacks.</summary>
    public static Gen<HostileMessage> UnknownEnums(DateTimeOffset now) =>
        Gen.Select(GoodDrops(now), Formats, Gen.Int[0, 2], Gen.OneOf<int>(Gen.Const(99), Gen.Int[7, int.MaxValue], Gen.Int[int.MinValue, -1]),
            (drop, encoding, which, value) =>
            {
                var e = new NetworkEvent { CallDropped = drop };
                var doc = Doc(e);
                var number = value.ToString(CultureInfo.InvariantCulture);
                string name;
                switch (which)
                {
                    case 0:
                        drop.DroppedParty = (Party)value;
                        JsonDoc.SetMember(doc.Event, "droppedParty", number);
                        name = "dropped_party";
                        break;
                    case 1:
                        drop.AccessTechnology = (AccessTechnology)value;
                        JsonDoc.SetMember(doc.Event, "accessTechnology", number);
                        name = "access_technology";
                        break;
                    default:
                        drop.ReleaseCause.Protocol = (CauseProtocol)value;
                        JsonDoc.SetMember(doc.Cause, "protocol", number);
                        name = "release_cause.protocol";
                        break;
                }

                return Message(e, encoding, "unknown-enum", Invariant($"{name} = {value}"), doc);
            });

    /// <summary>"huge-string": an event id, call id, caller or callee of 10,000 to <paramref name="maxLength"/> characters.</summary>
    public static Gen<HostileMessage> HugeStrings(DateTimeOffset now, int maxLength = 1_000_000) =>
        Gen.Select(GoodEvents(now), Formats, Gen.Int[0, 3], Gen.Int[10_000, Math.Max(10_000, maxLength)], Token, Gen.Int[100_000_000, 999_999_999],
            (e, encoding, which, length, token, digits) =>
            {
                var number = Invariant($"+44{digits}");
                var id = "hx-" + token;
                var (name, value, head) = which switch
                {
                    0 => ("eventId", id + new string('x', length - id.Length), id),
                    1 => ("callId", id + new string('x', length - id.Length), id),
                    2 => ("caller", number + new string('5', length - number.Length), number),
                    _ => ("callee", number + new string('5', length - number.Length), number),
                };
                var doc = SetString(e, name, value);
                var planted = Planted(e);
                planted.AddRange([head, head.TrimStart('+'), value[..64]]);
                return Message(e, encoding, "huge-string", Invariant($"{name} of {length} characters"), doc) with { Planted = planted };
            });

    /// <summary>
    /// Ids (and numbers) with a brace, a control character (\n, \r, \0, ESC, DEL, NEL...), a non-ASCII character (é,
    /// NBSP, zero-width space, RTL override, BOM, emoji, a lone surrogate) or spaces at the start, middle or end.
    /// Kinds "brace-in-id", "control-char-in-id", "non-ascii-in-id", "space-in-id", "odd-char-in-number".
    /// </summary>
    public static Gen<HostileMessage> OddCharacterIds(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Formats, Gen.Int[0, 4], Gen.Int[0, OddCharacters.Length - 1], Gen.Int[0, 99], Gen.Int[0, 2], Token, Token, Gen.Int[100_000, 999_999],
            (e, encoding, which, oddClass, oddChoice, position, token1, token2, digits) =>
            {
                var (kind, chars) = OddCharacters[oddClass];
                var odd = chars[oddChoice % chars.Length];
                var name = which switch { 0 => "eventId", 1 or 4 => "callId", 2 => "caller", _ => "callee" };
                var number = name is "caller" or "callee";
                var head = number ? "+447700" : "id-" + token1;
                var tail = number ? digits.ToString(CultureInfo.InvariantCulture) : token2;
                var value = position switch
                {
                    0 => odd + head + tail,
                    1 => head + odd + tail,
                    _ => head + tail + odd,
                };
                var doc = SetString(e, name, value);
                var planted = Planted(e);
                planted.AddRange(number ? [head + tail] : [head, tail]);
                var where = position switch { 0 => "at the start", 1 => "in the middle", _ => "at the end" };
                var codes = string.Join(' ', odd.Select(c => Invariant($"U+{(int)c:X4}")));
                return Message(e, encoding, number ? "odd-char-in-number" : kind, Invariant($"{name} with {codes} {where}"), doc) with { Planted = planted };
            });

    /// <summary>
    /// "deep-json": 1,000-20,000 levels of [ or { (balanced or not; at the top, as the event, or as an unknown member of
    /// an otherwise empty event); "deep-protobuf": as many nested unknown groups or length-delimited unknown fields.
    /// </summary>
    public static Gen<HostileMessage> DeepNesting { get; } =
        Gen.Select(Gen.Int[0, 7], Gen.Int[1_000, 20_000],
            (shape, depth) =>
            {
                string? json = shape switch
                {
                    0 => Repeat("[", depth) + Repeat("]", depth),
                    1 => Repeat("{\"a\":", depth) + "1" + Repeat("}", depth),
                    2 => "{\"callDropped\":" + Repeat("[", depth) + Repeat("]", depth) + "}",
                    3 => "{\"callConnected\":{\"x\":" + Repeat("{\"y\":", depth) + "null" + Repeat("}", depth) + "}}",
                    4 => "{\"callDropped\":" + Repeat("{\"releaseCause\":", depth),
                    5 => Repeat("[", depth),
                    _ => null,
                };
                if (json is not null)
                {
                    return new HostileMessage(Encoding.UTF8.GetBytes(json), Json, null, "deep-json")
                    {
                        Detail = Invariant($"shape {shape}, {depth} levels: {json[..Math.Min(json.Length, 40)]}..."),
                    };
                }

                var groups = shape == 6;
                return new HostileMessage(groups ? Wire.NestedGroups(20, depth) : Wire.NestedDelimited(20, depth), null, null, "deep-protobuf")
                {
                    Detail = Invariant($"{depth} nested unknown {(groups ? "groups" : "length-delimited fields")}"),
                };
            });

    /// <summary>
    /// "json-echo": JSON whose time, cause, flag or event member holds a phone number (a string, or a bare number where a
    /// string belongs), e.g. "dropTime": "+447700912345". The rejection must not repeat the number.
    /// </summary>
    public static Gen<HostileMessage> WrongTypesInJson(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Number, Gen.Int[0, 99], Gen.Bool,
            (e, phone, choice, charset) =>
            {
                var doc = Doc(e);
                var digits = phone.TrimStart('+');
                string[] targets = e.CallDropped is null
                    ? ["answerTime", "emergency", "callId (number)", "callConnected"]
                    : ["dropTime", "answerTime", "releaseCause.protocol", "releaseCause.code", "releaseCause.code (number)", "emergency", "eventId (number)", "callDropped", "droppedParty (number)"];
                var target = targets[choice % targets.Length];
                switch (target)
                {
                    case "releaseCause.protocol":
                        JsonDoc.SetMember(doc.Cause, "protocol", Str(phone));
                        break;
                    case "releaseCause.code":
                        JsonDoc.SetMember(doc.Cause, "code", Str(phone));
                        break;
                    case "releaseCause.code (number)":
                        JsonDoc.SetMember(doc.Cause, "code", digits);
                        break;
                    case "eventId (number)":
                        JsonDoc.SetMember(doc.Event, "eventId", digits);
                        break;
                    case "callId (number)":
                        JsonDoc.SetMember(doc.Event, "callId", digits);
                        break;
                    case "droppedParty (number)":
                        JsonDoc.SetMember(doc.Event, "droppedParty", digits);
                        break;
                    case "callDropped" or "callConnected":
                        doc.Top[0] = (target, Str(phone));
                        break;
                    default:
                        JsonDoc.SetMember(doc.Event, target, Str(phone));
                        break;
                }

                var planted = Planted(e);
                planted.AddRange([phone, digits]);
                return new HostileMessage(Encoding.UTF8.GetBytes(doc.ToString()), charset ? ContentTypes[3] : Json, e.Key(), "json-echo")
                {
                    Detail = Invariant($"{target} = {phone}"),
                    Planted = planted,
                };
            });

    /// <summary>"odd-content-type": a valid event under a content type the reader does not read (some with control characters).</summary>
    public static Gen<HostileMessage> OddContentTypes(DateTimeOffset now) =>
        Gen.Select(GoodEvents(now), Gen.Bool, Gen.Int[0, 8], Number,
            (e, json, choice, phone) =>
            {
                var (contentType, planted) = choice switch
                {
                    0 => ("text/csv", "text/csv"),
                    1 => ("application/xml", "application/xml"),
                    2 => ("application/octet-stream", "application/octet-stream"),
                    3 => ("application/x-" + phone, phone),
                    4 => ("text/plain; charset=" + phone, "text/plain"),
                    5 => ("application/\u001b[2Jjson", "\u001b[2J"),
                    6 => ("application/x-protobuf\0" + phone, phone),
                    7 => ("application/vnd.callrecovery.v2+json", "vnd.callrecovery.v2"),
                    _ => ("multipart/form-data; boundary=" + phone, "multipart/form-data"),
                };
                var value = json ? Encoding.UTF8.GetBytes(Doc(e).ToString()) : e.ToByteArray();
                var all = Planted(e);
                all.AddRange([planted, phone]);
                return new HostileMessage(value, contentType, e.Key(), "odd-content-type")
                {
                    Detail = Invariant($"{(json ? "JSON" : "binary")} {EventName(e)} sent as {contentType.Replace("\0", "\\0", StringComparison.Ordinal).Replace("\u001b", "\\e", StringComparison.Ordinal)}"),
                    Planted = all,
                };
            });

    /// <summary>"tombstone" (null value) and "empty-value" (no bytes, or JSON of only whitespace), under any content type.</summary>
    public static Gen<HostileMessage> TombstonesAndEmptyValues { get; } =
        Gen.Select(Gen.Int[0, 2], Formats, Gen.Bool, Token,
            (shape, encoding, keyed, token) =>
            {
                var key = keyed ? "icid-" + token : null;
                return shape switch
                {
                    0 => new HostileMessage(null, ContentTypes[encoding], key, "tombstone") { Detail = "null value" },
                    1 => new HostileMessage([], ContentTypes[encoding], key, "empty-value") { Detail = "zero bytes" },
                    _ => new HostileMessage(" \r\n\t "u8.ToArray(), Json, key, "empty-value") { Detail = "JSON of only whitespace" },
                };
            });

    /// <summary>"garbage": random bytes (binary or labelled JSON), or random JSON-ish punctuation and words.</summary>
    public static Gen<HostileMessage> Garbage { get; } =
        Gen.OneOf<HostileMessage>(
            Gen.Select(Gen.Byte.Array[1, 2_048], Formats,
                (bytes, encoding) => new HostileMessage(bytes, ContentTypes[encoding], null, "garbage") { Detail = Invariant($"{bytes.Length} random bytes") }),
            Gen.String[Gen.Char["{}[]\":,.-+eE0123456789 truefalsnlcDoped"], 1, 300].Select(
                text => new HostileMessage(Encoding.UTF8.GetBytes(text), Json, null, "garbage") { Detail = "random JSON-ish text" }));

    /// <summary>
    /// "unknown-field" that must still be rejected: unknown fields around an event with a real fault (missing id,
    /// bad number, missing time or cause, answer after drop), or an unknown field encoded wrongly (wire type 6 or 7,
    /// field number 0, an unterminated group, a stray end-group, a length past the end).
    /// </summary>
    public static Gen<HostileMessage> UnknownFieldsWithFault(DateTimeOffset now) =>
        Gen.OneOf<HostileMessage>(
            Gen.Select(GoodEvents(now), Formats, UnknownBinaryFields, UnknownJsonMembers, Gen.Int[0, 5],
                (e, encoding, binary, json, fault) => WithUnknown(e, encoding, binary, json, Spoil(e, fault)) with { Planted = Planted(e) }),
            Gen.Select(GoodEvents(now), Gen.Bool, Gen.Int[0, 4], Gen.Int[20, 10_000],
                (e, nested, shape, field) =>
                {
                    (byte[] Tail, string What) bad = shape switch
                    {
                        0 => ([.. Wire.Tag(field, 6), 0x01], "wire type 6"),
                        1 => ([.. Wire.Tag(field, 7), 0x01], "wire type 7"),
                        2 => ([0x02, 0x00], "field number 0"),
                        3 => ([.. Wire.Tag(field, Wire.StartGroup), .. Wire.Tag(field + 1, Wire.Varint), 0x01], "a group without its end"),
                        _ => (Wire.Tag(field, Wire.EndGroup), "an end-group without a start"),
                    };
                    if (nested && shape == 4)
                    {
                        bad = ([.. Wire.Tag(field, Wire.LengthDelimited), 0x7f, 0x01], "a length past the end");
                    }

                    return new HostileMessage(nested ? Wire.WithInnerTail(e, bad.Tail) : [.. e.ToByteArray(), .. bad.Tail], null, e.Key(), "unknown-field")
                    {
                        Detail = Invariant($"unknown field {field} with {bad.What}, {(nested ? "inside " + EventName(e) : "after the event")}"),
                        Planted = Planted(e),
                    };
                }));

    // ---- Building blocks -----------------------------------------------------------------------------------------

    /// <summary>Unknown binary fields (numbers ≥ 20, every wire type) with where they go (0-5, see WithUnknown).</summary>
    private static readonly Gen<(byte[] Field, int Where)[]> UnknownBinaryFields =
        Gen.Select(
            Gen.Select(Gen.Int[20, 536_870_911], Gen.Int[0, 4], Gen.ULong, Gen.Byte.Array[0, 40],
                byte[] (number, wireType, value, bytes) => wireType switch
                {
                    0 => [.. Wire.Tag(number, Wire.Varint), .. Wire.VarintBytes(value)],
                    1 => [.. Wire.Tag(number, Wire.Fixed64), .. BitConverter.GetBytes(value)],
                    2 => Wire.Delimited(number, bytes),
                    3 => [.. Wire.Tag(number, Wire.Fixed32), .. BitConverter.GetBytes((uint)value)],
                    _ => [.. Wire.Tag(number, Wire.StartGroup), .. Wire.Tag(1, Wire.Varint), .. Wire.VarintBytes(value), .. Wire.Tag(number, Wire.EndGroup)],
                }),
            Gen.Int[0, 5]).Array[1, 5];

    /// <summary>Unknown JSON members (name, raw value) with where they go (0 envelope, 1 event, 2 release cause) and at which index.</summary>
    private static readonly Gen<(string Name, string Raw, int Where, int Index)[]> UnknownJsonMembers =
        Gen.Select(Token, Gen.Int[0, 6], Gen.Int[0, 2], Gen.Int[0, 20], Gen.Int[int.MinValue, int.MaxValue],
            (token, valueKind, where, index, n) =>
            {
                var raw = valueKind switch
                {
                    0 => n.ToString(CultureInfo.InvariantCulture),
                    1 => Str("text-" + token),
                    2 => "true",
                    3 => "null",
                    4 => "{\"a\": [1, \"b\", {\"c\": null}], \"d\": {}}",
                    5 => "[[], [1.5e3, -2], \"x\"]",
                    _ => "{\"callDropped\": {\"eventId\": 7}}",
                };
                return ("x" + token, raw, where, index);
            }).Array[1, 5];

    private static HostileMessage WithUnknown(NetworkEvent e, int encoding, (byte[] Field, int Where)[] binary, (string Name, string Raw, int Where, int Index)[] json, string detail)
    {
        if (encoding >= 2)
        {
            var doc = Doc(e);
            foreach (var (name, raw, where, index) in json)
            {
                var members = where switch { 0 => doc.Top, 1 => doc.Event, _ => e.CallDropped?.ReleaseCause is null ? doc.Event : doc.Cause };
                members.Insert(index % (members.Count + 1), (name, raw));
            }

            return new HostileMessage(Encoding.UTF8.GetBytes(doc.ToString()), ContentTypes[encoding], e.Key(), "unknown-field")
            {
                Detail = Invariant($"{detail} with {json.Length} unknown JSON members"),
            };
        }

        var (eventField, inner) = Wire.Inner(e);
        var timeField = e.CallDropped is null ? 5 : 8;
        List<byte> before = [], after = [], innerBefore = [], innerAfter = [];
        foreach (var (field, where) in binary)
        {
            switch (where)
            {
                case 0: before.AddRange(field); break;
                case 1: after.AddRange(field); break;
                case 2: innerBefore.AddRange(field); break;
                case 3 when HasTime(e, timeField): innerAfter.AddRange(Wire.Delimited(timeField, field)); break;
                case 4 when e.CallDropped?.ReleaseCause is not null: innerAfter.AddRange(Wire.Delimited(6, field)); break;
                default: innerAfter.AddRange(field); break;
            }
        }

        byte[] value = [.. before, .. Wire.Delimited(eventField, [.. innerBefore, .. inner, .. innerAfter]), .. after];
        return new HostileMessage(value, ContentTypes[encoding], e.Key(), "unknown-field")
        {
            Detail = Invariant($"{detail} with {binary.Length} unknown binary fields"),
        };
    }

    private static bool HasTime(NetworkEvent e, int field) =>
        field == 8 ? e.CallDropped?.DropTime is not null : e.CallConnected?.AnswerTime is not null;

    /// <summary>Breaks <paramref name="e"/> in place in one of six plain ways; says how.</summary>
    private static string Spoil(NetworkEvent e, int fault)
    {
        switch (fault)
        {
            case 0:
                SetId(e, eventId: true, string.Empty);
                return "missing eventId";
            case 1:
                SetId(e, eventId: false, string.Empty);
                return "missing callId";
            case 2:
                if (e.CallDropped is { } d1) { d1.Caller = "07700" + d1.Caller[^6..]; } else { e.CallConnected.Caller = "07700" + e.CallConnected.Caller[^6..]; }
                return "caller without the +44";
            case 3 when e.CallDropped is { } d2:
                d2.ReleaseCause = null;
                return "no releaseCause";
            case 4 when e.CallDropped is { } d3:
                d3.AnswerTime = Timestamp.FromDateTimeOffset(d3.DropTime.ToDateTimeOffset().AddSeconds(30));
                return "answerTime after dropTime";
            default:
                if (e.CallDropped is { } d4) { d4.DropTime = null; return "no dropTime"; }
                e.CallConnected.AnswerTime = null;
                return "no answerTime";
        }
    }

    private static void SetId(NetworkEvent e, bool eventId, string value)
    {
        if (e.CallDropped is { } d)
        {
            if (eventId) { d.EventId = value; } else { d.CallId = value; }
        }
        else if (eventId)
        {
            e.CallConnected.EventId = value;
        }
        else
        {
            e.CallConnected.CallId = value;
        }
    }

    /// <summary>Sets a string field (by JSON name) on the event and returns its JSON document.</summary>
    private static JsonDoc SetString(NetworkEvent e, string jsonName, string value)
    {
        var doc = Doc(e);
        JsonDoc.SetMember(doc.Event, jsonName, Str(value));
        switch (jsonName, e.CallDropped)
        {
            case ("eventId", { } d): d.EventId = value; break;
            case ("callId", { } d): d.CallId = value; break;
            case ("caller", { } d): d.Caller = value; break;
            case ("callee", { } d): d.Callee = value; break;
            case ("eventId", null): e.CallConnected.EventId = value; break;
            case ("callId", null): e.CallConnected.CallId = value; break;
            case ("caller", null): e.CallConnected.Caller = value; break;
            default: e.CallConnected.Callee = value; break;
        }

        return doc;
    }

    private static (string Field, string JsonName) TimeField(NetworkEvent e, bool answer) =>
        e.CallDropped is null ? ("call_connected.answer_time", "answerTime")
        : answer ? ("call_dropped.answer_time", "answerTime")
        : ("call_dropped.drop_time", "dropTime");

    private static void SetTime(NetworkEvent e, string field, Timestamp value)
    {
        switch (field)
        {
            case "call_connected.answer_time": e.CallConnected.AnswerTime = value; break;
            case "call_dropped.answer_time": e.CallDropped.AnswerTime = value; break;
            default: e.CallDropped.DropTime = value; break;
        }
    }

    private static Gen<Timestamp> OutOfRangeTimestamps(DateTimeOffset now)
    {
        var seconds = now.ToUnixTimeSeconds();
        return Gen.OneOf<Timestamp>(
            Gen.Int[int.MinValue, -1].Select(n => new Timestamp { Seconds = seconds, Nanos = n }),
            Gen.Int[1_000_000_000, int.MaxValue].Select(n => new Timestamp { Seconds = seconds, Nanos = n }),
            Gen.Long[MaxTimestampSeconds + 1, long.MaxValue].Select(s => new Timestamp { Seconds = s }),
            Gen.Long[long.MinValue, MinTimestampSeconds - 1].Select(s => new Timestamp { Seconds = s }),
            Gen.Select(Gen.Long[MaxTimestampSeconds + 1, long.MaxValue], Gen.Int[int.MinValue, -1], (s, n) => new Timestamp { Seconds = s, Nanos = n }));
    }

    private static readonly Gen<string> OutOfRangeJsonTimestamps =
        Gen.OneOf<string>(
            Gen.Int[10_000, 99_999].Select(year => Invariant($"{year}-01-01T00:00:00Z")),
            Gen.Const("0000-12-31T23:59:59Z"),
            Gen.Int[1, 14].Select(hours => Invariant($"9999-12-31T23:59:59-{hours:00}:00")),
            Gen.Int[1, 14].Select(hours => Invariant($"0001-01-01T00:00:00+{hours:00}:00")),
            Gen.Int[1_000_000_000, int.MaxValue].Select(fraction => Invariant($"2026-11-22T09:59:59.{fraction}Z")));

    private static string Distinct(string callee, string caller) =>
        callee != caller ? callee : caller[..^1] + (char)('0' + ((caller[^1] - '0' + 1) % 10));

    private static string EventName(NetworkEvent e) => e.CallDropped is null ? "CallConnected" : "CallDropped";

    private static string? Key(this NetworkEvent e) => e.CallDropped?.CallId ?? e.CallConnected?.CallId;

    /// <summary>The event's ids, numbers and times (to the second): distinctive texts a rejection must not repeat.</summary>
    private static List<string> Planted(NetworkEvent e)
    {
        string[] texts = e.CallDropped is { } d ? [d.EventId, d.CallId, d.Caller, d.Callee, TimeText(d.AnswerTime), TimeText(d.DropTime)]
            : [e.CallConnected.EventId, e.CallConnected.CallId, e.CallConnected.Caller, e.CallConnected.Callee, TimeText(e.CallConnected.AnswerTime)];
        return [.. texts.Where(t => t.Length >= 8)];
    }

    private static string TimeText(Timestamp? time) =>
        time is not null && time.IsNormalized() ? time.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) : string.Empty;

    private static HostileMessage Message(NetworkEvent e, int encoding, string kind, string detail, JsonDoc doc)
    {
        var json = encoding >= 2;
        var value = json ? Encoding.UTF8.GetBytes(doc.ToString()) : e.ToByteArray();
        return new HostileMessage(value, ContentTypes[encoding], e.Key(), kind)
        {
            Detail = detail + (json ? " (JSON)" : " (binary)"),
            Planted = Planted(e),
        };
    }

    private static string Repeat(string text, int count) => new StringBuilder(text.Length * count).Insert(0, text, count).ToString();

    /// <summary>A JSON string literal: quotes, backslashes, control characters and lone surrogates escaped, the rest literal.</summary>
    private static string Str(string text)
    {
        var json = new StringBuilder(text.Length + 2).Append('"');
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                json.Append(c).Append(text[++i]);
            }
            else if (c is '"' or '\\')
            {
                json.Append('\\').Append(c);
            }
            else if (c < ' ' || c == '\x7f' || char.IsSurrogate(c))
            {
                json.Append(Invariant($"\\u{(int)c:x4}"));
            }
            else
            {
                json.Append(c);
            }
        }

        return json.Append('"').ToString();
    }

    private static string Time(Timestamp t) => Str(t.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));

    private static string EnumJson(EnumDescriptor type, int number) =>
        type.FindValueByNumber(number) is { } value ? Str(value.Name) : number.ToString(CultureInfo.InvariantCulture);

    /// <summary>The event as canonical protobuf JSON, as lists of members that a generator can change before writing.</summary>
    private static JsonDoc Doc(NetworkEvent e)
    {
        var doc = new JsonDoc();
        if (e.CallDropped is { } d)
        {
            doc.Top.Add(("callDropped", null));
            doc.Event.AddRange([
                ("eventId", Str(d.EventId)), ("callId", Str(d.CallId)), ("caller", Str(d.Caller)), ("callee", Str(d.Callee)),
                ("droppedParty", EnumJson(PartyType, (int)d.DroppedParty))]);
            if (d.ReleaseCause is { } cause)
            {
                doc.Event.Add(("releaseCause", null));
                doc.Cause.AddRange([("protocol", EnumJson(ProtocolType, (int)cause.Protocol)), ("code", cause.Code.ToString(CultureInfo.InvariantCulture))]);
                if (cause.Name.Length > 0)
                {
                    doc.Cause.Add(("name", Str(cause.Name)));
                }
            }

            if (d.AnswerTime is { } answered && answered.IsNormalized())
            {
                doc.Event.Add(("answerTime", Time(answered)));
            }

            if (d.DropTime is { } dropped && dropped.IsNormalized())
            {
                doc.Event.Add(("dropTime", Time(dropped)));
            }

            doc.Event.AddRange([
                ("servingCell", Str(d.ServingCell)), ("switchingNode", Str(d.SwitchingNode)),
                ("accessTechnology", EnumJson(AccessType, (int)d.AccessTechnology)), ("emergency", d.Emergency ? "true" : "false"), ("reporter", Str(d.Reporter))]);
        }
        else
        {
            var c = e.CallConnected;
            doc.Top.Add(("callConnected", null));
            doc.Event.AddRange([("eventId", Str(c.EventId)), ("callId", Str(c.CallId)), ("caller", Str(c.Caller)), ("callee", Str(c.Callee))]);
            if (c.AnswerTime is { } answered && answered.IsNormalized())
            {
                doc.Event.Add(("answerTime", Time(answered)));
            }

            doc.Event.AddRange([("switchingNode", Str(c.SwitchingNode)), ("emergency", c.Emergency ? "true" : "false")]);
        }

        return doc;
    }

    private static bool IsNormalized(this Timestamp t) =>
        t.Nanos is >= 0 and < 1_000_000_000 && t.Seconds is >= MinTimestampSeconds and <= MaxTimestampSeconds;

    /// <summary>JSON members: envelope, event and release cause; a null raw value stands for the nested object.</summary>
    private sealed class JsonDoc
    {
        public List<(string Name, string? Raw)> Top { get; } = [];

        public List<(string Name, string? Raw)> Event { get; } = [];

        public List<(string Name, string? Raw)> Cause { get; } = [];

        public static void SetMember(List<(string Name, string? Raw)> members, string name, string raw)
        {
            var index = members.FindIndex(m => m.Name == name);
            if (index >= 0)
            {
                members[index] = (name, raw);
            }
            else
            {
                members.Add((name, raw));
            }
        }

        public override string ToString() => Render(Top, Render(Event, Render(Cause, "{}")));

        private static string Render(List<(string Name, string? Raw)> members, string nested) =>
            "{" + string.Join(", ", members.Select(m => Str(m.Name) + ": " + (m.Raw ?? nested))) + "}";
    }

    /// <summary>Protobuf wire format by hand, for what the generated code will not write.</summary>
    private static class Wire
    {
        public const int Varint = 0;
        public const int Fixed64 = 1;
        public const int LengthDelimited = 2;
        public const int StartGroup = 3;
        public const int EndGroup = 4;
        public const int Fixed32 = 5;

        public static byte[] Tag(int field, int wireType) => VarintBytes(((ulong)(uint)field << 3) | (uint)wireType);

        public static byte[] VarintBytes(ulong value)
        {
            var bytes = new List<byte>(10);
            do
            {
                var b = (byte)(value & 0x7f);
                value >>= 7;
                bytes.Add(value == 0 ? b : (byte)(b | 0x80));
            }
            while (value != 0);
            return [.. bytes];
        }

        public static byte[] Delimited(int field, byte[] payload) => [.. Tag(field, LengthDelimited), .. VarintBytes((ulong)payload.Length), .. payload];

        /// <summary>The envelope field number (1 dropped, 2 connected) and the event's own bytes.</summary>
        public static (int Field, byte[] Bytes) Inner(NetworkEvent e) =>
            e.CallDropped is { } d ? (1, d.ToByteArray()) : (2, e.CallConnected.ToByteArray());

        /// <summary>The envelope around the event's bytes followed by <paramref name="tail"/> (length adjusted to cover it).</summary>
        public static byte[] WithInnerTail(NetworkEvent e, byte[] tail)
        {
            var (field, inner) = Inner(e);
            return Delimited(field, [.. inner, .. tail]);
        }

        public static byte[] NestedGroups(int field, int depth)
        {
            var start = Tag(field, StartGroup);
            var end = Tag(field, EndGroup);
            var bytes = new byte[(start.Length + end.Length) * depth];
            for (var i = 0; i < depth; i++)
            {
                start.CopyTo(bytes, i * start.Length);
                end.CopyTo(bytes, (start.Length * depth) + (i * end.Length));
            }

            return bytes;
        }

        public static byte[] NestedDelimited(int field, int depth)
        {
            var tag = Tag(field, LengthDelimited);
            var lengths = new long[depth + 1];
            for (var i = 1; i <= depth; i++)
            {
                lengths[i] = tag.Length + VarintBytes((ulong)lengths[i - 1]).Length + lengths[i - 1];
            }

            using var stream = new MemoryStream((int)lengths[depth]);
            for (var i = depth; i >= 1; i--)
            {
                stream.Write(tag);
                stream.Write(VarintBytes((ulong)lengths[i - 1]));
            }

            return stream.ToArray();
        }

        public static byte[] Splice(byte[] bytes, byte[] marker, byte[] replacement)
        {
            var at = bytes.AsSpan().IndexOf(marker);
            return at < 0 ? bytes : [.. bytes.AsSpan(0, at), .. replacement, .. bytes.AsSpan(at + marker.Length)];
        }
    }
}
