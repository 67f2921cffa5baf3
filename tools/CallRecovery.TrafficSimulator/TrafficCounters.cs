namespace CallRecovery.TrafficSimulator;

/// <summary>
/// What a simulator has published so far, counted when Kafka acknowledged the message. A call (and its
/// outcome) counts with its first report; <see cref="BothLegs"/> and <see cref="Redials"/> with their own messages.
/// </summary>
/// <param name="Calls">Calls whose first message was published (poison included).</param>
/// <param name="Drops">Calls that ended in a network drop.</param>
/// <param name="NormalClearings">Calls that ended normally.</param>
/// <param name="NeverAnswered">Calls never answered.</param>
/// <param name="BothLegs">Second-leg reports published.</param>
/// <param name="Redials">The parties' own redials (CallConnected) published.</param>
/// <param name="Emergencies">Emergency calls (to 112).</param>
/// <param name="Json">Messages published as JSON.</param>
/// <param name="Poison">Garbage or invalid messages published.</param>
/// <param name="EventsPublished">Every message published.</param>
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
    long EventsPublished);

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

    public void Published(SimulatedCall call, ScheduledMessage message)
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
            case SimulatedMessageKind.Poison:
                Interlocked.Increment(ref _poison);
                break;
            case SimulatedMessageKind.Report:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(message), message.Kind, "Unknown message kind.");
        }

        Interlocked.Increment(ref _calls);
        if (call.Emergency)
        {
            Interlocked.Increment(ref _emergencies);
        }

        switch (call.Outcome)
        {
            case CallOutcome.NetworkDrop:
                Interlocked.Increment(ref _drops);
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
        Interlocked.Read(ref _eventsPublished));
}
