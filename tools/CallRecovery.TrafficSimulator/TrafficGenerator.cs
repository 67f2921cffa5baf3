using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.TrafficSimulator;

/// <summary>
/// Makes simulated calls and the Kafka messages that report them, without touching Kafka. Deterministic:
/// the same options (and seed) give the same calls in the same order; only timestamps follow the clock
/// passed in. Not thread-safe: one caller at a time.
/// </summary>
public sealed class TrafficGenerator
{
    public const string ContentTypeHeader = "content-type";
    public const string ProtobufContentType = "application/x-protobuf";
    public const string JsonContentType = "application/json";

    /// <summary>Key suffix of the second leg, so it may land on another partition than the first report.</summary>
    public const string SecondLegKeySuffix = "/leg2";

    private const string RadioConnectionLost = "radio-connection-with-ue-lost";
    private const int NumberSpace = 100_000;
    private static readonly TimeSpan MeanAnsweredDuration = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan LongestAnsweredDuration = TimeSpan.FromHours(3);

    // Network-drop causes (DOMAIN.md), weighted roughly as a live network reports them. Circuit-switched
    // nodes see Q.850 and CDR causes; IMS nodes mostly SIP RELEASE_CAUSE and Rx; radio loss reaches both.
    private static readonly Weighted<ReleaseCause>[] CircuitDropCauses =
    [
        new(Q850(41), 14), new(Q850(38), 6), new(Q850(27), 6), new(Q850(42), 5), new(Q850(44), 3), new(Q850(47), 6),
        new(Q850(102), 6), new(Q850(111), 3), new(Q850(127), 4), new(Radio(), 12), new(Cause(CauseProtocol.Cdr, 4), 3),
    ];

    private static readonly Weighted<ReleaseCause>[] ImsDropCauses =
    [
        new(Cause(CauseProtocol.SipReleaseCause, 2), 10), new(Cause(CauseProtocol.SipReleaseCause, 3), 6),
        new(Cause(CauseProtocol.SipReleaseCause, 4), 3), new(Cause(CauseProtocol.SipReleaseCause, 5), 3), new(Radio(), 10),
        new(Cause(CauseProtocol.DiameterRx, 0), 4), new(Cause(CauseProtocol.DiameterRx, 2), 3), new(Q850(41), 4), new(Q850(127), 2),
    ];

    // Normal clearing: user hang-up mostly, some "normal, unspecified", SIP cause 200, SRVCC (Rx 3).
    private static readonly Weighted<ReleaseCause>[] NormalCauses =
    [
        new(Q850(16), 75), new(Q850(31), 10), new(Cause(CauseProtocol.Sip, 200), 8), new(Cause(CauseProtocol.DiameterRx, 3), 7),
    ];

    // Set-up failures: user busy, no user responding, no answer.
    private static readonly Weighted<ReleaseCause>[] NeverAnsweredCauses = [new(Q850(17), 45), new(Q850(18), 20), new(Q850(19), 35)];

    private static readonly string[] PoisonDefects =
    [
        "garbage", "truncated_json", "unsupported_content_type", "malformed_number", "answer_after_drop",
        "future_timestamp", "missing_call_id", "empty_event", "tombstone",
    ];

    private readonly TrafficOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly string[] _subscribers;
    private readonly int _repeatDroppers;
    private readonly string _tag;
    private long _sequence;

    /// <param name="options">Validated here (publishing settings are not required).</param>
    /// <param name="time">The clock of <see cref="NextCall()"/>; default <see cref="TimeProvider.System"/>.</param>
    public TrafficGenerator(TrafficOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(forPublishing: false);
        _options = options;
        _time = time ?? TimeProvider.System;
        _tag = options.RunId ?? FormattableString.Invariant($"s{options.Seed}");
        _subscribers = SubscriberPool(options.Subscribers, options.Seed);
        _repeatDroppers = Math.Clamp((int)Math.Round(options.Subscribers * options.RepeatDropperPoolRatio), 1, options.Subscribers);

        // A stream of its own, so the call sequence does not depend on how many draws the pool took. A fixed
        // mix, not HashCode.Combine, whose seed changes with every process.
        _random = new Random(unchecked((options.Seed * -1640531535) ^ 0x5eed));
    }

    /// <summary>The subscriber pool: E.164 numbers +4477009xxxxx; the first <see cref="RepeatDroppers"/> of them drop often.</summary>
    public IReadOnlyList<string> Subscribers => _subscribers;

    /// <summary>The numbers that place <see cref="TrafficOptions.RepeatDropperRatio"/> of the drops.</summary>
    public IReadOnlyList<string> RepeatDroppers => new ArraySegment<string>(_subscribers, 0, _repeatDroppers);

    /// <summary>How many calls this generator has made.</summary>
    public long Generated => _sequence;

    /// <summary>The next call, timed by the generator's clock.</summary>
    public SimulatedCall NextCall() => NextCall(_time.GetUtcNow());

    /// <summary>The next call, released at about <paramref name="now"/> (a few ms earlier); a redial is due <see cref="TrafficOptions.RedialDelay"/> later.</summary>
    public SimulatedCall NextCall(DateTimeOffset now)
    {
        var sequence = ++_sequence;
        var callId = FormattableString.Invariant($"icid-{_tag}-{sequence:x6}-{Hex(4)}");
        if (Chance(_options.PoisonRatio))
        {
            return Poison(sequence, callId, now);
        }

        var draw = _random.NextDouble();
        var outcome = draw < _options.DropRatio ? CallOutcome.NetworkDrop
            : draw < _options.DropRatio + _options.NeverAnsweredRatio ? CallOutcome.NeverAnswered
            : CallOutcome.NormalClearing;
        var emergency = Chance(_options.EmergencyRatio);
        var repeatDropper = outcome == CallOutcome.NetworkDrop && Chance(_options.RepeatDropperRatio);
        var (caller, callerIndex) = PickCaller(repeatDropper);
        var callee = emergency ? "112" : PickOther(callerIndex);

        var node = _options.SwitchingNodes[_random.Next(_options.SwitchingNodes.Count)];
        var ims = IsImsNode(node);
        var access = PickAccess(ims);
        var dropTime = now - TimeSpan.FromMilliseconds(_random.Next(1, 250));
        DateTimeOffset? answerTime = outcome == CallOutcome.NeverAnswered ? null : dropTime - AnsweredDuration();

        var cause = outcome switch
        {
            CallOutcome.NetworkDrop => Pick(ims ? ImsDropCauses : CircuitDropCauses),
            CallOutcome.NeverAnswered => Pick(NeverAnsweredCauses),
            _ => Pick(NormalCauses),
        };
        var droppedParty = outcome == CallOutcome.NeverAnswered ? Party.Unspecified
            : _random.Next(2) == 0 ? Party.Caller : Party.Callee;

        var first = new CallDropped
        {
            EventId = EventId(sequence, 1),
            CallId = callId,
            Caller = caller,
            Callee = callee,
            DroppedParty = droppedParty,
            ReleaseCause = cause.Clone(),
            AnswerTime = answerTime is { } answered ? Timestamp.FromDateTimeOffset(answered) : null,
            DropTime = Timestamp.FromDateTimeOffset(dropTime),
            ServingCell = ServingCell(),
            SwitchingNode = node,
            AccessTechnology = access,
            Emergency = emergency,
            Reporter = Reporter(cause, ims, access),
        };
        var messages = new List<ScheduledMessage> { Schedule(SimulatedMessageKind.Report, now, callId, new NetworkEvent { CallDropped = first }) };

        if (outcome == CallOutcome.NetworkDrop && Chance(_options.BothLegsRatio))
        {
            var otherCause = SecondLegCause(cause, ims);
            var second = first.Clone();
            second.EventId = EventId(sequence, 2);
            second.DroppedParty = droppedParty == Party.Caller ? Party.Callee : Party.Caller;
            second.ReleaseCause = otherCause;
            second.DropTime = Timestamp.FromDateTimeOffset(dropTime - TimeSpan.FromMilliseconds(_random.Next(0, 200)));
            second.ServingCell = ServingCell();
            second.Reporter = Reporter(otherCause, ims, access);

            // The other leg's element reports a moment later and may land on another partition.
            var due = now + TimeSpan.FromMilliseconds(_random.Next(0, 500));
            messages.Add(Schedule(SimulatedMessageKind.SecondLeg, due, callId + SecondLegKeySuffix, new NetworkEvent { CallDropped = second }));
        }

        string? redialCallId = null;
        if (outcome == CallOutcome.NetworkDrop && !emergency && Chance(_options.RedialRatio))
        {
            redialCallId = FormattableString.Invariant($"icid-{_tag}-{sequence:x6}r-{Hex(4)}");
            var swap = _random.Next(2) == 0;
            var delay = _options.RedialDelay;
            var answeredAgain = dropTime + delay - TimeSpan.FromMilliseconds(_random.Next(0, (int)Math.Min(1000, delay.TotalMilliseconds) + 1));
            var redial = new CallConnected
            {
                EventId = EventId(sequence, 3),
                CallId = redialCallId,
                Caller = swap ? callee : caller,
                Callee = swap ? caller : callee,
                AnswerTime = Timestamp.FromDateTimeOffset(answeredAgain < dropTime ? dropTime : answeredAgain),
                SwitchingNode = node,
                Emergency = false,
            };
            messages.Add(Schedule(SimulatedMessageKind.Redial, now + delay, redialCallId, new NetworkEvent { CallConnected = redial }));
        }

        messages.Sort((a, b) => a.Due.CompareTo(b.Due));
        return new SimulatedCall(sequence, callId, caller, callee, outcome, emergency, repeatDropper, redialCallId, messages);
    }

    /// <summary>A message the service must dead-letter: garbage, broken JSON, or an event that fails validation.</summary>
    private SimulatedCall Poison(long sequence, string callId, DateTimeOffset now)
    {
        var (caller, callerIndex) = PickCaller(repeatDropper: false);
        var callee = PickOther(callerIndex);
        var defect = PoisonDefects[_random.Next(PoisonDefects.Length)];
        var dropTime = now - TimeSpan.FromMilliseconds(_random.Next(1, 250));
        var valid = new CallDropped
        {
            EventId = EventId(sequence, 1),
            CallId = callId,
            Caller = caller,
            Callee = callee,
            DroppedParty = Party.Caller,
            ReleaseCause = Q850(41),
            AnswerTime = Timestamp.FromDateTimeOffset(dropTime - TimeSpan.FromSeconds(60)),
            DropTime = Timestamp.FromDateTimeOffset(dropTime),
            SwitchingNode = _options.SwitchingNodes[0],
            AccessTechnology = AccessTechnology.Eutran,
            Reporter = "msc",
        };

        ScheduledMessage message;
        switch (defect)
        {
            case "garbage":
                var garbage = new byte[_random.Next(8, 64)];
                _random.NextBytes(garbage);
                message = Raw(now, callId, garbage, ProtobufContentType, defect);
                break;
            case "truncated_json":
                var text = JsonFormatter.Default.Format(new NetworkEvent { CallDropped = valid });
                message = Raw(now, callId, Encoding.UTF8.GetBytes(text[..(text.Length / 2)]), JsonContentType, defect);
                break;
            case "unsupported_content_type":
                var envelope = new NetworkEvent { CallDropped = valid };
                message = new ScheduledMessage(SimulatedMessageKind.Poison, now, Build(callId, envelope.ToByteArray(), "text/plain"), envelope, false, defect);
                break;
            case "tombstone":
                message = Raw(now, callId, null, ProtobufContentType, defect);
                break;
            default:
                var broken = defect switch
                {
                    // National format instead of E.164.
                    "malformed_number" => Modified(valid, e => e.Caller = string.Concat("0", caller.AsSpan(3))),
                    "answer_after_drop" => Modified(valid, e => e.AnswerTime = Timestamp.FromDateTimeOffset(dropTime + TimeSpan.FromSeconds(30))),
                    "future_timestamp" => Modified(valid, e => e.DropTime = Timestamp.FromDateTimeOffset(now + TimeSpan.FromHours(1))),
                    "missing_call_id" => Modified(valid, e => e.CallId = string.Empty),
                    _ => null,
                };
                message = Schedule(SimulatedMessageKind.Poison, now, callId, broken is null ? new NetworkEvent() : new NetworkEvent { CallDropped = broken }) with { Defect = defect };
                break;
        }

        return new SimulatedCall(sequence, callId, caller, callee, CallOutcome.Poison, Emergency: false, RepeatDropper: false, RedialCallId: null, [message]);
    }

    private ScheduledMessage Schedule(SimulatedMessageKind kind, DateTimeOffset due, string key, NetworkEvent envelope)
    {
        var json = Chance(_options.JsonRatio);
        var value = json ? Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(envelope)) : envelope.ToByteArray();
        return new ScheduledMessage(kind, due, Build(key, value, json ? JsonContentType : ProtobufContentType), envelope, json, Defect: null);
    }

    private static ScheduledMessage Raw(DateTimeOffset due, string key, byte[]? value, string contentType, string defect) =>
        new(SimulatedMessageKind.Poison, due, Build(key, value, contentType), Event: null, Json: contentType == JsonContentType, defect);

    private static Message<byte[]?, byte[]?> Build(string key, byte[]? value, string contentType) => new()
    {
        Key = Encoding.UTF8.GetBytes(key),
        Value = value,
        Headers = new Headers { { ContentTypeHeader, Encoding.UTF8.GetBytes(contentType) } },
    };

    private static CallDropped Modified(CallDropped valid, Action<CallDropped> change)
    {
        var copy = valid.Clone();
        change(copy);
        return copy;
    }

    private (string Number, int Index) PickCaller(bool repeatDropper)
    {
        // Ordinary callers come from outside the repeat-dropper set (unless the set is the whole pool).
        var index = repeatDropper || _repeatDroppers >= _subscribers.Length
            ? _random.Next(_repeatDroppers)
            : _random.Next(_repeatDroppers, _subscribers.Length);
        return (_subscribers[index], index);
    }

    private string PickOther(int callerIndex)
    {
        var index = _random.Next(_subscribers.Length - 1);
        return _subscribers[index >= callerIndex ? index + 1 : index];
    }

    private AccessTechnology PickAccess(bool ims)
    {
        var draw = _random.Next(100);
        return ims
            ? draw < 55 ? AccessTechnology.Eutran : draw < 85 ? AccessTechnology.Nr : AccessTechnology.Wlan
            : draw < 50 ? AccessTechnology.Eutran : draw < 85 ? AccessTechnology.Utran : AccessTechnology.Geran;
    }

    /// <summary>Exponential with mean 90 s (about one call in ten under 10 s), between 1 s and 3 h.</summary>
    private TimeSpan AnsweredDuration()
    {
        var seconds = -MeanAnsweredDuration.TotalSeconds * Math.Log(1 - _random.NextDouble());
        var milliseconds = Math.Clamp(Math.Round(seconds * 1000), 1000, LongestAnsweredDuration.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(milliseconds);
    }

    /// <summary>The other leg often sees the drop through another protocol; sometimes only as "normal, unspecified".</summary>
    private ReleaseCause SecondLegCause(ReleaseCause first, bool ims)
    {
        var draw = _random.Next(100);
        return draw switch
        {
            < 30 => first.Clone(),
            < 60 => first.Protocol == CauseProtocol.Radio ? Pick(ims ? ImsDropCauses : CircuitDropCauses) : Radio(),
            < 85 => ims ? Cause(CauseProtocol.SipReleaseCause, 2) : Q850(41),
            _ => Q850(31),
        };
    }

    private static string Reporter(ReleaseCause cause, bool ims, AccessTechnology access) => cause.Protocol switch
    {
        CauseProtocol.Radio => access == AccessTechnology.Nr ? "gnb" : "enb",
        CauseProtocol.SipReleaseCause or CauseProtocol.Sip or CauseProtocol.DiameterRx => "ims",
        _ => ims ? "ims" : "msc",
    };

    private static bool IsImsNode(string node) =>
        node.Contains("ims", StringComparison.OrdinalIgnoreCase) || node.StartsWith("tas", StringComparison.OrdinalIgnoreCase)
        || node.Contains("cscf", StringComparison.OrdinalIgnoreCase);

    private string EventId(long sequence, int report) => FormattableString.Invariant($"ev-{_tag}-{sequence:x6}-{report}");

    private string ServingCell() => FormattableString.Invariant($"234-15-{_random.Next(0x10000):x4}-{_random.Next(0x100):x2}");

    private string Hex(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        _random.NextBytes(buffer);
        return Convert.ToHexStringLower(buffer);
    }

    private bool Chance(double ratio) => ratio > 0 && _random.NextDouble() < ratio;

    private ReleaseCause Pick(Weighted<ReleaseCause>[] table)
    {
        var draw = _random.Next(table.Sum(entry => entry.Weight));
        foreach (var entry in table)
        {
            draw -= entry.Weight;
            if (draw < 0)
            {
                return entry.Value.Clone();
            }
        }

        throw new InvalidOperationException("Unreachable: the draw lies within the total weight.");
    }

    private static string[] SubscriberPool(int count, int seed)
    {
        var random = new Random(seed);
        var taken = new HashSet<int>(count);
        var pool = new string[count];
        for (var i = 0; i < count;)
        {
            var number = random.Next(NumberSpace);
            if (taken.Add(number))
            {
                pool[i++] = FormattableString.Invariant($"+4477009{number:D5}");
            }
        }

        return pool;
    }

    private static ReleaseCause Q850(int code) => Cause(CauseProtocol.Q850, code);

    private static ReleaseCause Radio() => new() { Protocol = CauseProtocol.Radio, Name = RadioConnectionLost };

    private static ReleaseCause Cause(CauseProtocol protocol, int code) => new() { Protocol = protocol, Code = code };

    private readonly record struct Weighted<T>(T Value, int Weight);
}
