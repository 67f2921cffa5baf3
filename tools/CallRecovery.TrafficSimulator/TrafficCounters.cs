namespace CallRecovery.TrafficSimulator;

/// <summary>
/// What a simulator has published so far, counted when Kafka acknowledged the message. A call (and its
/// outcome) counts with its first report; <see cref="BothLegs"/>, <see cref="Redials"/>, <see cref="Reattaches"/> and
/// <see cref="CellsInService"/> with their own messages.
/// </summary>
/// <param name="Calls">Calls whose first message was published (poison included).</param>
/// <param name="Drops">Calls that ended in a network drop (an outage's drops included).</param>
/// <param name="NormalClearings">Calls that ended normally.</param>
/// <param name="NeverAnswered">Calls never answered.</param>
/// <param name="BothLegs">Second-leg reports published.</param>
/// <param name="Redials">The parties' own redials (CallConnected) published.</param>
/// <param name="Emergencies">Emergency calls (to 112).</param>
/// <param name="Json">Messages published as JSON.</param>
/// <param name="Poison">Garbage or invalid messages published.</param>
/// <param name="EventsPublished">Every message published.</param>
/// <param name="Reattaches">SubscriberReachable events published: parties back after a radio loss.</param>
/// <param name="OutageDrops">Drops of calls in a cell that failed (the outage scenario).</param>
/// <param name="CellsInService">CellInService events published: failed cells back in service.</param>
/// <param name="CustomerReplies">CustomerResponded events published: customers' own "not now".</param>
public sealed record TrafficCounters(
    long Calls,
    long Drops,
    long NormalClearings,
    long NeverAnswered,
    long BothLegs,
    long Redials,
    long Emergencies,
    long Json,
    long Poison,
    long EventsPublished,
    long Reattaches,
    long OutageDrops,
    long CellsInService,
    long CustomerReplies = 0);

/// <summary>The live cells behind <see cref="TrafficCounters"/>: written by the run loop, read by any thread.</summary>
internal sealed class TrafficCounterCells
{
    private long _calls;
    private long _drops;
    private long _normalClearings;
    private long _neverAnswered;
    private long _bothLegs;
    private long _redials;
    private long _emergencies;
    private long _json;
    private long _poison;
    private long _eventsPublished;
    private long _reattaches;
    private long _outageDrops;
    private long _cellsInService;
    private long _customerReplies;

    /// <param name="call">The call the message belongs to; null only for a <see cref="SimulatedMessageKind.CellInService"/>.</param>
    /// <param name="message">The message Kafka acknowledged.</param>
    public void Published(SimulatedCall? call, ScheduledMessage message)
    {
        Interlocked.Increment(ref _eventsPublished);
        if (message.Json)
        {
            Interlocked.Increment(ref _json);
        }

        switch (message.Kind)
        {
            case SimulatedMessageKind.SecondLeg:
                Interlocked.Increment(ref _bothLegs);
                return;
            case SimulatedMessageKind.Redial:
                Interlocked.Increment(ref _redials);
                return;
            case SimulatedMessageKind.Reachable:
                Interlocked.Increment(ref _reattaches);
                return;
            case SimulatedMessageKind.CellInService:
                Interlocked.Increment(ref _cellsInService);
                return;
            case SimulatedMessageKind.CustomerReply:
                Interlocked.Increment(ref _customerReplies);
                return;
            case SimulatedMessageKind.Poison:
                Interlocked.Increment(ref _poison);
                break;
            case SimulatedMessageKind.Report:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(message), message.Kind, "Unknown message kind.");
        }

        ArgumentNullException.ThrowIfNull(call);

        Interlocked.Increment(ref _calls);
        if (call.Emergency)
        {
            Interlocked.Increment(ref _emergencies);
        }

        switch (call.Outcome)
        {
            case CallOutcome.NetworkDrop:
                Interlocked.Increment(ref _drops);
                if (call.Outage is not null)
                {
                    Interlocked.Increment(ref _outageDrops);
                }

                break;
            case CallOutcome.NormalClearing:
                Interlocked.Increment(ref _normalClearings);
                break;
            case CallOutcome.NeverAnswered:
                Interlocked.Increment(ref _neverAnswered);
                break;
            case CallOutcome.Poison:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(call), call.Outcome, "Unknown outcome.");
        }
    }

    public TrafficCounters Snapshot() => new(
        Interlocked.Read(ref _calls),
        Interlocked.Read(ref _drops),
        Interlocked.Read(ref _normalClearings),
        Interlocked.Read(ref _neverAnswered),
        Interlocked.Read(ref _bothLegs),
        Interlocked.Read(ref _redials),
        Interlocked.Read(ref _emergencies),
        Interlocked.Read(ref _json),
        Interlocked.Read(ref _poison),
        Interlocked.Read(ref _eventsPublished),
        Interlocked.Read(ref _reattaches),
        Interlocked.Read(ref _outageDrops),
        Interlocked.Read(ref _cellsInService),
        Interlocked.Read(ref _customerReplies));
}
