namespace CallRecovery.TrafficSimulator;

/// <summary>
/// What traffic to simulate and where to publish it. Ratios are fractions between 0 and 1. The same options
/// and <see cref="Seed"/> give the same sequence of calls (numbers, outcomes, causes, ids), only the
/// timestamps follow the clock.
/// </summary>
public sealed record TrafficOptions
{
    /// <summary>The default topic of network events.</summary>
    public const string DefaultTopic = "callrecovery.network-events.v1";

    /// <summary>Kafka bootstrap servers, e.g. "localhost:9092". Required for publishing; the generator alone ignores it.</summary>
    public string BootstrapServers { get; init; } = string.Empty;

    /// <summary>The topic to publish to. Default "callrecovery.network-events.v1".</summary>
    public string Topic { get; init; } = DefaultTopic;

    /// <summary>New calls per second (each call is one to three messages). Default 20.</summary>
    public double CallsPerSecond { get; init; } = 20;

    /// <summary>How long to generate new calls; null runs until cancelled. Default null.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Stop generating after this many calls; null for no limit. Default null.</summary>
    public int? MaxCalls { get; init; }

    /// <summary>Size of the pool of E.164 subscriber numbers (+4477009xxxxx), drawn from <see cref="Seed"/>. Default 1000, at most 100000.</summary>
    public int Subscribers { get; init; } = 1000;

    /// <summary>Seed of every random choice. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Tag inside every call id and event id (icid-&lt;RunId&gt;-…). Default null: "s" + <see cref="Seed"/>, so a
    /// rerun with the same seed repeats the same ids (and the service treats it as a redelivery). Give each
    /// run its own tag to publish fresh calls.
    /// </summary>
    public string? RunId { get; init; }

    /// <summary>Share of calls that end in a network drop (answered, then a network-drop release cause). Default 0.6.</summary>
    public double DropRatio { get; init; } = 0.6;

    /// <summary>Share of calls never answered (Q.850 17/18/19, no answer time). Default 0.1. The rest ends in normal clearing.</summary>
    public double NeverAnsweredRatio { get; init; } = 0.1;

    /// <summary>Share of drops reported by both legs: a second report with the same call id, keyed callId + "/leg2". Default 0.5.</summary>
    public double BothLegsRatio { get; init; } = 0.5;

    /// <summary>Share of drops whose caller is one of the few repeat droppers, so rate limits show. Default 0.15.</summary>
    public double RepeatDropperRatio { get; init; } = 0.15;

    /// <summary>Share of the subscriber pool that are repeat droppers (at least one number). Default 0.02.</summary>
    public double RepeatDropperPoolRatio { get; init; } = 0.02;

    /// <summary>Share of (non-emergency) drops after which the two parties redial by themselves: a CallConnected with a new call id. Default 0.2.</summary>
    public double RedialRatio { get; init; } = 0.2;

    /// <summary>
    /// Cells come from this many areas of <see cref="CellsPerArea"/> cells each (a network's own cells, each seeing
    /// many drops), and people in each area redial <see cref="RedialDelay"/> times 1 to 4 after the drop. Default 0:
    /// cells spread over the whole id space (each rarely seen twice), every redial after <see cref="RedialDelay"/>.
    /// </summary>
    public int CellAreas { get; init; }

    /// <summary>Cells per area with <see cref="CellAreas"/>. Default 10.</summary>
    public int CellsPerArea { get; init; } = 10;

    /// <summary>How long after a drop the parties' own redial is published (its answer time lies just before). Default 3 s.</summary>
    public TimeSpan RedialDelay { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Share of (non-emergency, not redialled) drops whose customer answers us themselves (a CustomerResponded: "not
    /// now" by SMS reply, USSD or the app), <see cref="CustomerReplyDelay"/> after the drop; one in four asks for no
    /// callbacks for a day. Default 0.
    /// </summary>
    public double CustomerReplyRatio { get; init; }

    /// <summary>How long after a drop the customer's own answer is published. Default 1 s (before a 20 s grace period ends).</summary>
    public TimeSpan CustomerReplyDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Share of customers the operator's systems flag vulnerable on their drop events (their callbacks go first). Default 0.</summary>
    public double VulnerableRatio { get; init; }

    /// <summary>Share of calls to "112" flagged emergency. Default 0.005.</summary>
    public double EmergencyRatio { get; init; } = 0.005;

    /// <summary>Share of messages published as canonical protobuf JSON instead of binary. Default 0.2.</summary>
    public double JsonRatio { get; init; } = 0.2;

    /// <summary>Share of calls replaced by a garbage or invalid message (for the dead-letter topic). Default 0.</summary>
    public double PoisonRatio { get; init; }

    /// <summary>
    /// Earliest re-attach after a radio loss: whenever a drop report's cause is a radio loss ("radio connection with UE
    /// lost", or Q.850 27) for the party whose leg dropped, that party's phone re-attaches a random time between
    /// <see cref="ReattachDelayMin"/> and <see cref="ReattachDelayMax"/> after the drop, and a SubscriberReachable
    /// (reason ATTACH, the drop's serving cell) is published for the number, keyed like the drop report. Default 5 s.
    /// </summary>
    public TimeSpan ReattachDelayMin { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Latest re-attach after a radio loss (see <see cref="ReattachDelayMin"/>). Default 40 s.</summary>
    public TimeSpan ReattachDelayMax { get; init; } = TimeSpan.FromSeconds(40);

    /// <summary>
    /// Share of radio-loss parties that never re-attach (no SubscriberReachable: the service ends their recovery as
    /// customer unreachable at the deadline). Parties who redial themselves always re-attach first. Default 0.1.
    /// </summary>
    public double NeverReattachRatio { get; init; } = 0.1;

    /// <summary>
    /// The outage scenario, off when null: one cell (<see cref="OutageCell"/>) fails, so within about 2 s
    /// <see cref="OutageCalls"/> answered calls in it drop with a network cause (Q.850 41 or 38), all on
    /// <see cref="OutageSwitchingNode"/>; <see cref="OutageDuration"/> after the failure a CellInService for the cell is
    /// published and ordinary traffic in the cell resumes (calls answered after it, redials carrying the cell). The
    /// first outage begins <see cref="OutageFirstAfter"/> after the run starts, the next ones every
    /// <see cref="OutageEvery"/>, at most <see cref="OutageCount"/> of them. While the scenario is on, 1 call in 50
    /// is in the outage cell whenever it is up. Default null (off).
    /// </summary>
    public TimeSpan? OutageEvery { get; init; }

    /// <summary>When the first outage begins, after the run starts; null: <see cref="OutageEvery"/>. Default null.</summary>
    public TimeSpan? OutageFirstAfter { get; init; }

    /// <summary>How long the cell stays out of service (from its failure to its CellInService). Default 20 s.</summary>
    public TimeSpan OutageDuration { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How many outages at most; null: no limit. Default null.</summary>
    public int? OutageCount { get; init; }

    /// <summary>Distinct answered calls that drop when the cell fails. Default 30 (the service declares an outage at 20 drops from a cell within 10 s).</summary>
    public int OutageCalls { get; init; } = 30;

    /// <summary>The cell that fails, as drop events name it. Default "234-15-outage-01".</summary>
    public string OutageCell { get; init; } = "234-15-outage-01";

    /// <summary>The switching node serving <see cref="OutageCell"/>; null: the first of <see cref="SwitchingNodes"/>. Default null.</summary>
    public string? OutageSwitchingNode { get; init; }

    /// <summary>Switching nodes a call may be carried by. Default "msc-lon-1", "msc-man-1", "tas-ims-1".</summary>
    public IReadOnlyList<string> SwitchingNodes { get; init; } = ["msc-lon-1", "msc-man-1", "tas-ims-1"];

    /// <summary>Most deliveries awaited at once; the publisher waits for a batch before producing more. Default 1000.</summary>
    public int MaxInFlight { get; init; } = 1000;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    /// <param name="forPublishing">Also require <see cref="BootstrapServers"/> and <see cref="Topic"/>.</param>
    public void Validate(bool forPublishing)
    {
        if (forPublishing && string.IsNullOrWhiteSpace(BootstrapServers))
        {
            throw Invalid("BootstrapServers is required.");
        }

        if (forPublishing && string.IsNullOrWhiteSpace(Topic))
        {
            throw Invalid("Topic is required.");
        }

        if (!(CallsPerSecond > 0) || double.IsInfinity(CallsPerSecond))
        {
            throw Invalid("CallsPerSecond must be a positive number.");
        }

        if (Duration is { } duration && duration < TimeSpan.Zero)
        {
            throw Invalid("Duration must not be negative.");
        }

        if (MaxCalls is < 0)
        {
            throw Invalid("MaxCalls must not be negative.");
        }

        if (Subscribers is < 2 or > 100_000)
        {
            throw Invalid("Subscribers must be between 2 and 100000.");
        }

        if (RunId is { } runId && (runId.Length is 0 or > 32 || !runId.All(char.IsAsciiLetterOrDigit)))
        {
            throw Invalid("RunId must be 1-32 ASCII letters or digits.");
        }

        CheckRatio(DropRatio, nameof(DropRatio));
        CheckRatio(NeverAnsweredRatio, nameof(NeverAnsweredRatio));
        if (DropRatio + NeverAnsweredRatio > 1)
        {
            throw Invalid("DropRatio + NeverAnsweredRatio must not exceed 1.");
        }

        CheckRatio(BothLegsRatio, nameof(BothLegsRatio));
        CheckRatio(RepeatDropperRatio, nameof(RepeatDropperRatio));
        CheckRatio(RepeatDropperPoolRatio, nameof(RepeatDropperPoolRatio));
        CheckRatio(RedialRatio, nameof(RedialRatio));
        CheckRatio(CustomerReplyRatio, nameof(CustomerReplyRatio));
        CheckRatio(VulnerableRatio, nameof(VulnerableRatio));
        if (CellAreas is < 0 or > 0x10000 || CellsPerArea is < 1 or > 0x100)
        {
            throw Invalid("CellAreas must be 0-65536 and CellsPerArea 1-256.");
        }

        CheckRatio(EmergencyRatio, nameof(EmergencyRatio));
        CheckRatio(JsonRatio, nameof(JsonRatio));
        CheckRatio(PoisonRatio, nameof(PoisonRatio));
        if (RedialDelay < TimeSpan.Zero)
        {
            throw Invalid("RedialDelay must not be negative.");
        }

        if (ReattachDelayMin < TimeSpan.Zero || ReattachDelayMax < ReattachDelayMin || ReattachDelayMax > LongestScenarioTime)
        {
            throw Invalid("ReattachDelayMin must not be negative, nor ReattachDelayMax shorter than it or longer than 7 days.");
        }

        CheckRatio(NeverReattachRatio, nameof(NeverReattachRatio));
        if (OutageEvery is { } every)
        {
            if (OutageDuration <= TimeSpan.Zero)
            {
                throw Invalid("OutageDuration must be positive.");
            }

            if (every > LongestScenarioTime || OutageFirstAfter > LongestScenarioTime)
            {
                throw Invalid("OutageEvery and OutageFirstAfter must be at most 7 days.");
            }

            if (every <= OutageDuration + TrafficGenerator.OutageSpread)
            {
                throw Invalid("OutageEvery must be longer than OutageDuration + 2 s (outages of the cell must not overlap).");
            }

            if (OutageFirstAfter is { } first && first < TimeSpan.Zero)
            {
                throw Invalid("OutageFirstAfter must not be negative.");
            }

            if (OutageCount is < 1)
            {
                throw Invalid("OutageCount must be at least 1.");
            }

            if (OutageCalls is < 1 or > 100_000)
            {
                throw Invalid("OutageCalls must be between 1 and 100000.");
            }

            if (string.IsNullOrWhiteSpace(OutageCell))
            {
                throw Invalid("OutageCell must not be blank.");
            }

            if (OutageSwitchingNode is { } node && string.IsNullOrWhiteSpace(node))
            {
                throw Invalid("OutageSwitchingNode must not be blank.");
            }
        }

        if (SwitchingNodes.Count == 0 || SwitchingNodes.Any(string.IsNullOrWhiteSpace))
        {
            throw Invalid("SwitchingNodes must name at least one node, none blank.");
        }

        if (MaxInFlight < 1)
        {
            throw Invalid("MaxInFlight must be at least 1.");
        }
    }

    /// <summary>The longest re-attach delay and outage period accepted.</summary>
    private static readonly TimeSpan LongestScenarioTime = TimeSpan.FromDays(7);

    private static ArgumentException Invalid(string problem) => new("TrafficOptions." + problem);

    private static void CheckRatio(double value, string name)
    {
        if (value is < 0 or > 1 || double.IsNaN(value))
        {
            throw Invalid($"{name} must be between 0 and 1.");
        }
    }
}
