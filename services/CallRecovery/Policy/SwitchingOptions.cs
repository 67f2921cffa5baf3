using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Policy;

/// <summary>
/// A grace period that learns: per serving cell (else its area, else <see cref="SwitchingOptions.GracePeriod"/>) the
/// share of drops whose parties redialled by themselves and how soon; the first callback waits until most of those
/// redials have happened (<see cref="Coverage"/>) and a second more for their report to arrive, within
/// <see cref="Min"/> and <see cref="Max"/>. Bound from "Switching:LearnedGrace".
/// </summary>
public sealed class LearnedGraceOptions
{
    /// <summary>Learn and use it. Default false: every drop waits <see cref="SwitchingOptions.GracePeriod"/>.</summary>
    public bool Enabled { get; set; }

    /// <summary>The shortest learned grace. Default 5 s (CCBS guard times are 0-15 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan Min { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest learned grace. Default 60 s (contact-centre practice waits up to about a minute).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan Max { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The share of a place's own redials the grace lets happen first. Default 0.9.</summary>
    [Range(0.5, 1.0)]
    public double Coverage { get; set; } = 0.9;

    /// <summary>Drops a cell (or area) must have shown before its own figures are used. Default 20.</summary>
    [Range(1, 100_000)]
    public int MinDrops { get; set; } = 20;

    /// <summary>Below this share of drops redialled by themselves, people there do not redial: the grace is <see cref="Min"/>. Default 0.05.</summary>
    [Range(0.0, 1.0)]
    public double RareShare { get; set; } = 0.05;

    /// <summary>Once a place has shown this many drops, its counts are halved, so old evidence fades. Default 2,000.</summary>
    [Range(10, 10_000_000)]
    public int Memory { get; set; } = 2_000;

    /// <summary>How long a replica keeps a place's learned grace before reading it again. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan Refresh { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>How recoveries are scheduled and delivered to the switching platform. Bound from the "Switching" section.</summary>
public sealed class SwitchingOptions
{
    public const string Section = "Switching";

    /// <summary>The switch (or pool) for switching nodes not in <see cref="Routes"/>. Default "switch-default".</summary>
    [Required]
    [RegularExpression(SwitchIds.Pattern, ErrorMessage = "Switching:DefaultSwitch must be 1-64 letters, digits, '.', '_' or '-'.")]
    public string DefaultSwitch { get; set; } = "switch-default";

    /// <summary>Switching node named in the drop event (MSC, TAS, ...) to the switch id that places its callbacks. Default: none, all go to <see cref="DefaultSwitch"/>.</summary>
    public Dictionary<string, string> Routes { get; set; } = [];

    /// <summary>
    /// Wait this long after the drop before calling back: people often redial at once, and a redial
    /// cancels the recovery. Default 20 s (contact-centre practice waits up to about a minute; CCBS guard times are 0-15 s).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A callback not delivered and acknowledged this long after the drop expires: later, it is no longer a recovery. Default 5 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "04:00:00")]
    public TimeSpan CallbackDeadline { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A command not acknowledged within this time is sent again, to any live connection of the switch. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan AcknowledgementTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A callback the switch accepted and has said nothing about for this long (no stage, no outcome) ends with the
    /// outcome NO_REPORT, published and counted like any other; a late outcome then moves it on as for any ended
    /// recovery. Counted from the acceptance or the latest stage. Default 15 min (ringing, the offer and ringing the other
    /// party take a minute or two).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan OutcomeTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// As <see cref="OutcomeTimeout"/>, once the switch reported the parties bridged: the outcome comes when they hang
    /// up, which may be long. Default 4 h.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:10", "2.00:00:00")]
    public TimeSpan BridgedOutcomeTimeout { get; set; } = TimeSpan.FromHours(4);

    /// <summary>After a switch rejects a command (e.g. overloaded), wait this long before offering it again. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan RejectionBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The most unacknowledged commands on one connection (the switch may ask for fewer). Default 32.</summary>
    [Range(1, 10_000)]
    public int MaxUnacknowledgedPerConnection { get; set; } = 32;

    /// <summary>
    /// New commands per second a switch (all its instances together) is sent at most, when its Hello declares no
    /// rate: switch id to rate. Default: none.
    /// </summary>
    public Dictionary<string, int> AdmissionRates { get; set; } = [];

    /// <summary>The admission rate of switches that declare none and are not in <see cref="AdmissionRates"/>; 0: no limit. Default 0.</summary>
    [Range(0, 1_000_000)]
    public int DefaultAdmissionRate { get; set; }

    /// <summary>The rate a switch is held to: what it declared, else its configured rate, else the default (0: none).</summary>
    public int AdmissionRateOf(string switchId, uint declared) =>
        declared > 0 ? Math.Max((int)Math.Min(declared, 1_000_000u), MinAdmissionRates.TryGetValue(switchId, out var floor) ? floor : MinAdmissionRate)
        : AdmissionRates.TryGetValue(switchId, out var rate) ? rate : DefaultAdmissionRate;


    /// <summary>The switch ids a certificate with these identities may serve.</summary>
    public bool CertificateServes(IEnumerable<string> identities, string switchId) =>
        identities.Any(identity => CertificateSwitches.TryGetValue(identity, out var ids)
            ? ids.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(switchId, StringComparer.Ordinal)
            : string.Equals(identity, switchId, StringComparison.Ordinal));

    /// <summary>
    /// A connection that let a command's acknowledgement time out, or whose outbox is full (it stopped reading), is
    /// stuck: it gets no new commands (retries go to another live instance of the switch) and is closed when it has
    /// been stuck this long without acknowledging anything, so the switch reconnects. Default 10 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan StuckConnectionGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The longest a replica's dispatch sleeps without being woken (a freed window place, a connecting switch or an
    /// announced due time wake it at once): the safety net for a missed wake-up. Default 100 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:10")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often each replica looks for acknowledgement timeouts and deadlines (of every switch). Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The switching port carries both parties' numbers, so by default it requires mutual TLS: every client presents a
    /// certificate issued by <see cref="ClientCertificateAuthorityPath"/>, and a switch receives and reports on only the
    /// commands of the switch ids its certificate names. True serves it without client certificates: for a laptop, the
    /// demo and tests only. The service then says so at every start, and refuses to listen that way on any address
    /// but loopback unless <see cref="AllowInsecureOnNetwork"/> is set too. Default false.
    /// </summary>
    public bool AllowInsecure { get; set; }

    /// <summary>With <see cref="AllowInsecure"/>: serve the unauthenticated switching port on a non-loopback address as well. Default false.</summary>
    public bool AllowInsecureOnNetwork { get; set; }

    /// <summary>PEM file of the certificate authority that signs switch (and lookup client) certificates. Required unless <see cref="AllowInsecure"/>.</summary>
    public string? ClientCertificateAuthorityPath { get; set; }

    /// <summary>Optional CRL file (PEM or DER) of that CA: switch certificates it lists are refused. Re-read when the file changes. Default none.</summary>
    public string? ClientCertificateRevocationListPath { get; set; }

    /// <summary>
    /// Certificate identity to the switch ids it may serve, space-separated, for certificates that do not carry the
    /// switch id itself (e.g. "msc-north-1.operator.net": "switch-north switch-north-b"). A certificate's identity is
    /// each DNS name in its subject alternative names, or, when it has none, its subject common name. Without an entry
    /// an identity serves only the switch id it is. Default: none.
    /// </summary>
    public Dictionary<string, string> CertificateSwitches { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Certificate identity to the lookup scopes it holds on the switching port (as the HTTP API's scopes:
    /// "calls:read", "subscribers:read"). A switch's certificate holds none unless listed here; a bearer token with
    /// those scopes works too. Default: "callrecovery-lookup" (the lookup tool): "calls:read subscribers:read".
    /// </summary>
    public Dictionary<string, string> LookupClients { get; set; } = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> LookupClientsOrDefault => LookupClients.Count > 0 ? LookupClients : DefaultLookupClients;

    private static readonly Dictionary<string, string> DefaultLookupClients = new(StringComparer.Ordinal) { ["callrecovery-lookup"] = "calls:read subscribers:read" };

    /// <summary>
    /// The lowest admission rate a switch's Hello may hold its pool to, commands per second: a declared rate below it
    /// is taken as this (an instance cannot throttle its whole pool to a trickle). 0: none. Default 5.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MinAdmissionRate { get; set; } = 5;

    /// <summary>Per switch id, a floor other than <see cref="MinAdmissionRate"/>. Default: none.</summary>
    public Dictionary<string, int> MinAdmissionRates { get; set; } = [];

    /// <summary>The announcement played to the customer.</summary>
    public AnnouncementOptions Announcement { get; set; } = new();

    /// <summary>A grace period learned per cell from the redials seen there, within bounds (off by default).</summary>
    public LearnedGraceOptions LearnedGrace { get; set; } = new();
}

public sealed class AnnouncementOptions
{
    /// <summary>The prompt: the apology and the free-reconnect offer. Default "recovery.apology.free-reconnect".</summary>
    [Required]
    public string PromptId { get; set; } = "recovery.apology.free-reconnect";

    /// <summary>BCP 47 language when no prefix in <see cref="Languages"/> matches the customer's number. Default "en".</summary>
    [Required]
    public string DefaultLanguage { get; set; } = "en";

    /// <summary>Customer number prefix (E.164, with '+') to language, longest prefix wins, e.g. "+44": "en-GB", "+49": "de-DE". Default: none.</summary>
    public Dictionary<string, string> Languages { get; set; } = [];
}

public static class SwitchIds
{
    public const string Pattern = "^[A-Za-z0-9._-]{1,64}$";

    public static bool IsValid(string switchId) => System.Text.RegularExpressions.Regex.IsMatch(switchId, Pattern);
}
