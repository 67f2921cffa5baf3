using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Google.Protobuf;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.TrafficSimulator;

/// <summary>
/// Makes simulated calls and the Kafka messages that report them, without touching Kafka. Deterministic:
/// the same options (and seed) give the same calls in the same order; only timestamps follow the clock
/// passed in (with the outage scenario on, where an outage's calls fall among the others follows the clock too).
/// Re-attaches after radio loss, the outage scenario and the cells of redials draw from a random stream of their
/// own, so the ordinary calls of a seed are the same with or without re-attaches (the outage scenario moves a few of
/// them to the outage cell and its node, and its calls take sequence numbers). Not thread-safe: one caller at a time.
/// </summary>
public sealed class TrafficGenerator
{
    public const string ContentTypeHeader = "content-type";
    public const string ProtobufContentType = "application/x-protobuf";
    public const string JsonContentType = "application/json";

    /// <summary>Key suffix of the second leg, so it may land on another partition than the first report.</summary>
    public const string SecondLegKeySuffix = "/leg2";

    /// <summary>How long a failing cell takes to drop all its calls (<see cref="TrafficOptions.OutageCalls"/>).</summary>
    public static readonly TimeSpan OutageSpread = TimeSpan.FromSeconds(2);

    /// <summary>With the outage scenario on: the share of ordinary calls in the outage cell while it is up.</summary>
    private const double OutageCellShare = 0.02;

    private const string RadioConnectionLost = "radio-connection-with-ue-lost";

    /// <summary>Q.850 27 destination out of order: the phone left coverage, like a radio loss.</summary>
    private const int RadioLossQ850 = 27;
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
    private readonly Random _extra;
    private long _sequence;
    private DateTimeOffset? _origin;
    private int _outages;
    private (DateTimeOffset Start, DateTimeOffset End)? _lastOutage;

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
        _extra = new Random(unchecked((options.Seed * 1103515245) ^ 0x0a77ac));
    }

    /// <summary>The subscriber pool: E.164 numbers +4477009xxxxx; the first <see cref="RepeatDroppers"/> of them drop often.</summary>
    public IReadOnlyList<string> Subscribers => _subscribers;

    /// <summary>The numbers that place <see cref="TrafficOptions.RepeatDropperRatio"/> of the drops.</summary>
    public IReadOnlyList<string> RepeatDroppers => new ArraySegment<string>(_subscribers, 0, _repeatDroppers);

    /// <summary>How many calls this generator has made (an outage's calls included).</summary>
    public long Generated => _sequence;

    /// <summary>How many outages this generator has made.</summary>
    public int Outages => _outages;

    /// <summary>
    /// When the next outage is due (<see cref="NextOutage(DateTimeOffset)"/> makes it then); null when the scenario is
    /// off, every outage has been made, or the clock has not started (the first <see cref="NextCall(DateTimeOffset)"/>
    /// or <see cref="NextOutage(DateTimeOffset)"/> starts it).
    /// </summary>
    public DateTimeOffset? NextOutageAt =>
        _options.OutageEvery is { } every && _origin is { } origin && (_options.OutageCount is not { } count || _outages < count)
            ? origin + (_options.OutageFirstAfter ?? every) + (every * _outages)
            : null;

    private string OutageNode => _options.OutageSwitchingNode ?? _options.SwitchingNodes[0];

    /// <summary>The next call, timed by the generator's clock.</summary>
    public SimulatedCall NextCall() => NextCall(_time.GetUtcNow());

    /// <summary>The next call, released at about <paramref name="now"/> (a few ms earlier); a redial is due <see cref="TrafficOptions.RedialDelay"/> later.</summary>
    public SimulatedCall NextCall(DateTimeOffset now)
    {
        _origin ??= now;
        var sequence = ++_sequence;
        var callId = FormattableString.Invariant($"icid-{_tag}-{sequence:x6}-{Hex(4)}");
        if (Chance(_options.PoisonRatio))
        {
            return Poison(sequence, callId, now);
        }

        // With the outage scenario on, a few calls are in the outage cell (never while it is down), carried by its node.
        var inOutageCell = _options.OutageEvery is not null && Chance(_extra, OutageCellShare) && !OutageCellDown(now);

        var draw = _random.NextDouble();
        var outcome = draw < _options.DropRatio ? CallOutcome.NetworkDrop
            : draw < _options.DropRatio + _options.NeverAnsweredRatio ? CallOutcome.NeverAnswered
            : CallOutcome.NormalClearing;
        var emergency = Chance(_options.EmergencyRatio);
        var repeatDropper = outcome == CallOutcome.NetworkDrop && Chance(_options.RepeatDropperRatio);
        var (caller, callerIndex) = PickCaller(repeatDropper);
        var callee = emergency ? "112" : PickOther(callerIndex);

        var node = _options.SwitchingNodes[_random.Next(_options.SwitchingNodes.Count)];
        if (inOutageCell)
        {
            node = OutageNode;
        }

        var ims = IsImsNode(node);
        var access = PickAccess(ims);
        var dropTime = now - TimeSpan.FromMilliseconds(_random.Next(1, 250));
        DateTimeOffset? answerTime = outcome == CallOutcome.NeverAnswered ? null : dropTime - AnsweredDuration(_random);
        if (inOutageCell && answerTime is { } early && _lastOutage is { End: var back } && early < back)
        {
            // Nothing was answered in the cell while it was down: the call began after it came back.
            answerTime = back + ((dropTime - back) * _extra.NextDouble());
        }

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
            Vulnerable = IsVulnerable(droppedParty == Party.Callee ? callee : caller),
        };
        if (inOutageCell)
        {
            first.ServingCell = _options.OutageCell;
        }

        var messages = new List<ScheduledMessage> { Schedule(SimulatedMessageKind.Report, now, callId, new NetworkEvent { CallDropped = first }) };

        CallDropped? second = null;
        ScheduledMessage? secondMessage = null;
        if (outcome == CallOutcome.NetworkDrop && Chance(_options.BothLegsRatio))
        {
            var otherCause = SecondLegCause(cause, ims);
            second = first.Clone();
            second.EventId = EventId(sequence, 2);
            second.DroppedParty = droppedParty == Party.Caller ? Party.Callee : Party.Caller;
            second.ReleaseCause = otherCause;
            second.DropTime = Timestamp.FromDateTimeOffset(dropTime - TimeSpan.FromMilliseconds(_random.Next(0, 200)));
            second.ServingCell = ServingCell();
            second.Reporter = Reporter(otherCause, ims, access);

            // The other leg's element reports a moment later and may land on another partition.
            var due = now + TimeSpan.FromMilliseconds(_random.Next(0, 500));
            secondMessage = Schedule(SimulatedMessageKind.SecondLeg, due, callId + SecondLegKeySuffix, new NetworkEvent { CallDropped = second });
            messages.Add(secondMessage);
        }

        string? redialCallId = null;
        DateTimeOffset? redialAnswered = null;
        if (outcome == CallOutcome.NetworkDrop && !emergency && Chance(_options.RedialRatio))
        {
            redialCallId = FormattableString.Invariant($"icid-{_tag}-{sequence:x6}r-{Hex(4)}");
            var swap = _random.Next(2) == 0;
            var delay = RedialDelayIn(first.ServingCell);
            var answeredAgain = dropTime + delay - TimeSpan.FromMilliseconds(_random.Next(0, (int)Math.Min(1000, delay.TotalMilliseconds) + 1));
            redialAnswered = answeredAgain < dropTime ? dropTime : answeredAgain;
            var redial = new CallConnected
            {
                EventId = EventId(sequence, 3),
                CallId = redialCallId,
                Caller = swap ? callee : caller,
                Callee = swap ? caller : callee,
                AnswerTime = Timestamp.FromDateTimeOffset(redialAnswered.Value),
                SwitchingNode = node,
                Emergency = false,

                // The new call is where the first reporting leg was (a neighbour cell if that one is down by then).
                ServingCell = CellAt(first.ServingCell, redialAnswered.Value),
            };
            messages.Add(Schedule(SimulatedMessageKind.Redial, now + delay, redialCallId, new NetworkEvent { CallConnected = redial }));
        }

        // Now and then the customer answers us themselves ("not now"), keyed by their number.
        if (outcome == CallOutcome.NetworkDrop && !emergency && redialCallId is null && Chance(_options.CustomerReplyRatio))
        {
            var customer = droppedParty == Party.Callee ? callee : caller;
            var notForADay = _random.Next(4) == 0;
            var reply = new CustomerResponded
            {
                EventId = EventId(sequence, 6),
                Number = customer,
                Channel = (ResponseChannel)_random.Next(1, 4),
                Answer = notForADay ? CustomerAnswer.NoCallbacksForDays : CustomerAnswer.CancelCallbacks,
                Days = notForADay ? 1u : 0u,
                At = Timestamp.FromDateTimeOffset(now + _options.CustomerReplyDelay),
            };
            messages.Add(Schedule(SimulatedMessageKind.CustomerReply, now + _options.CustomerReplyDelay, customer, new NetworkEvent { CustomerResponded = reply }));
        }

        // Radio loss: the party whose leg dropped re-attaches later (before redialling, if they redial), and the
        // network says so. Keyed as the report it follows, so it lands on that report's partition after it.
        if (Reattach(sequence, 4, callId, first, now, now, redialAnswered) is { } reattach)
        {
            messages.Add(reattach);
        }

        if (second is not null && Reattach(sequence, 5, callId + SecondLegKeySuffix, second, now, secondMessage!.Due, redialAnswered) is { } reattachOther)
        {
            messages.Add(reattachOther);
        }

        messages.Sort((a, b) => a.Due.CompareTo(b.Due));
        return new SimulatedCall(sequence, callId, caller, callee, outcome, emergency, repeatDropper, redialCallId, messages);
    }

    /// <summary>
    /// The outage due at <paramref name="now"/> (see <see cref="NextOutageAt"/>), or null when none is due: the outage
    /// cell fails, <see cref="TrafficOptions.OutageCalls"/> answered calls in it drop with a network cause over the next
    /// <see cref="OutageSpread"/>, all carried by its switching node, and a CellInService is due
    /// <see cref="TrafficOptions.OutageDuration"/> after the failure. Until then no ordinary call is in the cell.
    /// </summary>
    public SimulatedOutage? NextOutage(DateTimeOffset now)
    {
        _origin ??= now;
        if (NextOutageAt is not { } scheduled || scheduled > now)
        {
            return null;
        }

        var number = ++_outages;
        var cell = _options.OutageCell;
        var node = OutageNode;
        var ims = IsImsNode(node);
        var count = _options.OutageCalls;
        var calls = new List<SimulatedCall>(count);
        var lastDue = now;
        for (var i = 0; i < count; i++)
        {
            var sequence = ++_sequence;
            var callId = FormattableString.Invariant($"icid-{_tag}-{sequence:x6}-{Hex(_extra, 4)}");
            var callerIndex = _repeatDroppers < _subscribers.Length ? _extra.Next(_repeatDroppers, _subscribers.Length) : _extra.Next(_subscribers.Length);
            var calleeIndex = _extra.Next(_subscribers.Length - 1);
            var (caller, callee) = (_subscribers[callerIndex], _subscribers[calleeIndex >= callerIndex ? calleeIndex + 1 : calleeIndex]);
            var due = now + (OutageSpread * (i / (double)count));
            var dropTime = due - TimeSpan.FromMilliseconds(_extra.Next(1, 50));
            var answered = dropTime - AnsweredDuration(_extra);
            if (_lastOutage is { End: var back } && answered < back)
            {
                // Answered after the cell's last outage ended: it carried no call while it was down.
                answered = back + ((dropTime - back) * (0.9 * _extra.NextDouble()));
            }

            var cause = _extra.Next(100) < 70 ? Q850(41) : Q850(38);
            var drop = new CallDropped
            {
                EventId = EventId(sequence, 1),
                CallId = callId,
                Caller = caller,
                Callee = callee,
                DroppedParty = _extra.Next(2) == 0 ? Party.Caller : Party.Callee,
                ReleaseCause = cause,
                AnswerTime = Timestamp.FromDateTimeOffset(answered),
                DropTime = Timestamp.FromDateTimeOffset(dropTime),
                ServingCell = cell,
                SwitchingNode = node,
                AccessTechnology = AccessTechnology.Eutran,
                Emergency = false,
                Reporter = ims ? "ims" : "msc",
            };
            drop.Vulnerable = IsVulnerable(drop.DroppedParty == Party.Callee ? callee : caller);
            var message = Schedule(SimulatedMessageKind.Report, due, callId, new NetworkEvent { CallDropped = drop }, _extra);
            calls.Add(new SimulatedCall(sequence, callId, caller, callee, CallOutcome.NetworkDrop, Emergency: false, RepeatDropper: false, RedialCallId: null, [message], number));
            lastDue = due;
        }

        // Back in service after the duration, and never before the last of its drops is out.
        var end = now + _options.OutageDuration;
        if (end <= lastDue)
        {
            end = lastDue + TimeSpan.FromSeconds(1);
        }

        var inService = new CellInService
        {
            EventId = FormattableString.Invariant($"ev-{_tag}-outage{number}-in-service"),
            ServingCell = cell,
            At = Timestamp.FromDateTimeOffset(end),
            SwitchingNode = node,
        };
        _lastOutage = (now, end);
        return new SimulatedOutage(number, cell, node, now, end, calls,
            Schedule(SimulatedMessageKind.CellInService, end, cell, new NetworkEvent { CellInService = inService }, _extra));
    }

    /// <summary>
    /// A SubscriberReachable for the party whose leg dropped with a radio loss, or null (another cause, the party
    /// unknown or a short code, or the party never re-attaches). Due after the report it follows.
    /// </summary>
    private ScheduledMessage? Reattach(long sequence, int report, string key, CallDropped drop, DateTimeOffset now, DateTimeOffset reportDue, DateTimeOffset? redialAnswered)
    {
        if (!IsRadioLoss(drop.ReleaseCause))
        {
            return null;
        }

        var number = drop.DroppedParty switch
        {
            Party.Caller => drop.Caller,
            Party.Callee => drop.Callee,
            _ => null,
        };
        if (number is null || !number.StartsWith('+'))
        {
            return null;
        }

        // Both draws always, so the stream does not depend on which branch is taken.
        var never = Chance(_extra, _options.NeverReattachRatio);
        var fraction = _extra.NextDouble();
        var dropTime = drop.DropTime.ToDateTimeOffset();
        DateTimeOffset at;
        if (redialAnswered is { } redialled)
        {
            // They redial themselves: the phone was back before that.
            at = dropTime + ((redialled - dropTime) * fraction);
        }
        else if (never)
        {
            return null;
        }
        else
        {
            at = dropTime + _options.ReattachDelayMin + ((_options.ReattachDelayMax - _options.ReattachDelayMin) * fraction);
        }

        var reachable = new SubscriberReachable
        {
            EventId = EventId(sequence, report),
            Number = number,
            At = Timestamp.FromDateTimeOffset(at),
            ServingCell = CellAt(drop.ServingCell, at),
            Reason = ReachabilityReason.Attach,
        };

        // Published as late after `at` as the report was after the drop, and never before the report.
        var due = at + (now - dropTime);
        if (due <= reportDue)
        {
            due = reportDue + TimeSpan.FromMilliseconds(1);
        }

        return Schedule(SimulatedMessageKind.Reachable, due, key, new NetworkEvent { SubscriberReachable = reachable }, _extra);
    }

    private static bool IsRadioLoss(ReleaseCause? cause) =>
        cause is not null
        && ((cause.Protocol == CauseProtocol.Radio && string.Equals(cause.Name, RadioConnectionLost, StringComparison.Ordinal))
            || (cause.Protocol == CauseProtocol.Q850 && cause.Code == RadioLossQ850));

    /// <summary>Is the outage cell down at <paramref name="at"/>: within an outage made, or one scheduled (with <see cref="OutageSpread"/> to spare)?</summary>
    private bool OutageCellDown(DateTimeOffset at)
    {
        if (_options.OutageEvery is not { } every || _origin is not { } origin)
        {
            return false;
        }

        if (_lastOutage is { } last && at >= last.Start && at < last.End)
        {
            return true;
        }

        var sinceFirst = at - (origin + (_options.OutageFirstAfter ?? every));
        if (sinceFirst < TimeSpan.Zero)
        {
            return false;
        }

        var index = (long)Math.Floor(sinceFirst / every);
        return (_options.OutageCount is not { } count || index < count) && sinceFirst - (every * index) < _options.OutageDuration + OutageSpread;
    }

    /// <summary>The cell, unless it is the outage cell and down then: a neighbour cell instead.</summary>
    private string CellAt(string cell, DateTimeOffset at) =>
        _options.OutageEvery is not null && string.Equals(cell, _options.OutageCell, StringComparison.Ordinal) && OutageCellDown(at) ? RandomCell(_extra) : cell;

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

    private ScheduledMessage Schedule(SimulatedMessageKind kind, DateTimeOffset due, string key, NetworkEvent envelope, Random? random = null)
    {
        var json = Chance(random ?? _random, _options.JsonRatio);
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
    private static TimeSpan AnsweredDuration(Random random)
    {
        var seconds = -MeanAnsweredDuration.TotalSeconds * Math.Log(1 - random.NextDouble());
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

    private string ServingCell() => _options.CellAreas > 0
        ? FormattableString.Invariant($"234-15-{_random.Next(_options.CellAreas):x4}-{_random.Next(_options.CellsPerArea):x2}")
        : RandomCell(_random);

    private static string RandomCell(Random random) => FormattableString.Invariant($"234-15-{random.Next(0x10000):x4}-{random.Next(0x100):x2}");

    /// <summary>
    /// How long after a drop its parties redial: <see cref="TrafficOptions.RedialDelay"/>, or, with a bounded set of
    /// areas, that many times 1 to 4 by area (people redial sooner in some places than in others).
    /// </summary>
    private TimeSpan RedialDelayIn(string cell) =>
        _options.CellAreas > 0 && cell.Split('-') is [_, _, var area, _] && int.TryParse(area, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var index)
            ? _options.RedialDelay * (1 + (index % 4))
            : _options.RedialDelay;

    private string Hex(int bytes) => Hex(_random, bytes);

    private static string Hex(Random random, int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        random.NextBytes(buffer);
        return Convert.ToHexStringLower(buffer);
    }

    /// <summary>
    /// Whether the operator's systems flag this customer vulnerable (<see cref="TrafficOptions.VulnerableRatio"/>): a
    /// property of the person, the same for every drop of theirs, and no draw from the random streams (so a seed's
    /// traffic is the same with the flag on or off).
    /// </summary>
    private bool IsVulnerable(string number)
    {
        if (_options.VulnerableRatio <= 0)
        {
            return false;
        }

        var hash = 2166136261u;
        foreach (var c in number)
        {
            hash = unchecked((hash ^ c) * 16777619u);
        }

        return hash % 10_000 < _options.VulnerableRatio * 10_000;
    }

    private bool Chance(double ratio) => Chance(_random, ratio);

    private static bool Chance(Random random, double ratio) => ratio > 0 && random.NextDouble() < ratio;

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
