using CallRecovery.Contracts.V1;
using Confluent.Kafka;

namespace CallRecovery.TrafficSimulator;

/// <summary>How a simulated call ended.</summary>
public enum CallOutcome
{
    /// <summary>Answered, then released with a network-drop cause: the service should consider a recovery.</summary>
    NetworkDrop,

    /// <summary>Answered, then released normally (Q.850 16/31, SIP cause 200, Rx PS-to-CS handover).</summary>
    NormalClearing,

    /// <summary>Never answered (Q.850 17/18/19): a set-up failure, not a drop.</summary>
    NeverAnswered,

    /// <summary>Replaced by a garbage or invalid message meant for the dead-letter topic.</summary>
    Poison,
}

/// <summary>The role of one message within a simulated call.</summary>
public enum SimulatedMessageKind
{
    /// <summary>The first report of the call, keyed by the call id.</summary>
    Report,

    /// <summary>The other leg's report of the same drop: another event id, keyed callId + "/leg2".</summary>
    SecondLeg,

    /// <summary>The parties' own redial after a drop: a CallConnected with a new call id, keyed by that id.</summary>
    Redial,

    /// <summary>The customer's own "not now" after a drop (a CustomerResponded), keyed by their number.</summary>
    CustomerReply,

    /// <summary>A garbage or invalid message, keyed by the call id.</summary>
    Poison,

    /// <summary>
    /// A party whose leg dropped with a radio loss re-attached: a SubscriberReachable, keyed as the drop report it
    /// follows (the call id, or callId + "/leg2"), so it lands after that report.
    /// </summary>
    Reachable,

    /// <summary>The failed cell of an outage is back in service: a CellInService, keyed by the cell. Belongs to no call.</summary>
    CellInService,
}

/// <summary>One Kafka message of a simulated call and when to publish it.</summary>
/// <param name="Kind">Its role in the call.</param>
/// <param name="Due">When to publish it (generation time, or later for a redial).</param>
/// <param name="Message">Key, value and the content-type header, ready to produce.</param>
/// <param name="Event">The event it carries; null for poison that is not an event (garbage, truncated JSON, tombstone).</param>
/// <param name="Json">True when the value is canonical protobuf JSON, false for protobuf binary.</param>
/// <param name="Defect">For poison: what is wrong with it (e.g. "garbage", "malformed_number"); null otherwise.</param>
public sealed record ScheduledMessage(
    SimulatedMessageKind Kind,
    DateTimeOffset Due,
    Message<byte[]?, byte[]?> Message,
    NetworkEvent? Event,
    bool Json,
    string? Defect);

/// <summary>One simulated call: who called whom, how it ended and the messages that report it.</summary>
/// <param name="Sequence">1 for the first call of a generator, then 2, 3, …</param>
/// <param name="CallId">The call id shared by every report of the call.</param>
/// <param name="Caller">E.164 caller.</param>
/// <param name="Callee">E.164 callee, or "112" for an emergency call.</param>
/// <param name="Outcome">How the call ended.</param>
/// <param name="Emergency">A call to 112 flagged emergency.</param>
/// <param name="RepeatDropper">The caller is one of the generator's repeat droppers.</param>
/// <param name="RedialCallId">The call id of the parties' own redial, if they redial.</param>
/// <param name="Messages">The messages to publish, ordered by <see cref="ScheduledMessage.Due"/>.</param>
/// <param name="Outage">For a call dropped by a cell's failure: the outage's number (1 for the first); null otherwise.</param>
public sealed record SimulatedCall(
    long Sequence,
    string CallId,
    string Caller,
    string Callee,
    CallOutcome Outcome,
    bool Emergency,
    bool RepeatDropper,
    string? RedialCallId,
    IReadOnlyList<ScheduledMessage> Messages,
    int? Outage = null)
{
    /// <summary>Both legs report the drop.</summary>
    public bool BothLegs => Messages.Any(m => m.Kind == SimulatedMessageKind.SecondLeg);

    /// <summary>Parties who lost radio and re-attach later: one SubscriberReachable each.</summary>
    public int Reattaches => Messages.Count(m => m.Kind == SimulatedMessageKind.Reachable);
}

/// <summary>One failure of the outage cell: the calls it drops and the CellInService that ends it.</summary>
/// <param name="Number">1 for the run's first outage, then 2, 3, …</param>
/// <param name="Cell">The cell that failed.</param>
/// <param name="SwitchingNode">The switching node serving the cell; every dropped call was carried by it.</param>
/// <param name="Start">When the cell failed (the first drop).</param>
/// <param name="End">When the cell is back in service: the CellInService's time; ordinary traffic in the cell resumes then.</param>
/// <param name="Calls">The answered calls that dropped, within about 2 s of <paramref name="Start"/>.</param>
/// <param name="CellInService">The message that reports the cell back, due at <paramref name="End"/>.</param>
public sealed record SimulatedOutage(
    int Number,
    string Cell,
    string SwitchingNode,
    DateTimeOffset Start,
    DateTimeOffset End,
    IReadOnlyList<SimulatedCall> Calls,
    ScheduledMessage CellInService);
