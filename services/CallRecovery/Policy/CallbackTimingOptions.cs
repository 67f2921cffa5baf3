using System.ComponentModel.DataAnnotations;
using CallRecovery.Contracts.V1;

namespace CallRecovery.Policy;

/// <summary>Another callback after no answer or busy. Bound from the "Retries" section.</summary>
public sealed class RetryOptions
{
    public const string Section = "Retries";

    /// <summary>
    /// Callbacks per recovery, the first included; 1 turns retries off. Default 3 (contact-centre callbacks: a
    /// maximum number of attempts with a gap between them; three fit the default 5-minute deadline).
    /// </summary>
    [Range(1, 10)]
    public int MaxCallbackAttempts { get; set; } = 3;

    /// <summary>The wait between one callback's outcome and the next callback. Default 60 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "04:00:00")]
    public TimeSpan Gap { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Outcomes that lead to another callback (names of <c>Outcome</c> without the prefix, e.g. "NoAnswer").
    /// Default NoAnswer and Busy. A customer who declined is never called again, whatever this says.
    /// </summary>
    public string[]? Outcomes { get; set; }

    /// <summary>
    /// For <c>OUTCOME_FAILED</c>: the switch's failure causes (by prefix of its <c>failure_cause</c>) worth another
    /// callback, because they are passing: Q.850 34 no circuit, 38 network out of order, 41 temporary failure,
    /// 42 congestion, 47 resource unavailable. Default those five; other failures end the recovery.
    /// </summary>
    public string[]? FailureCauses { get; set; }

    public static readonly IReadOnlyList<string> DefaultOutcomes = [nameof(Outcome.NoAnswer), nameof(Outcome.Busy)];

    public static readonly IReadOnlyList<string> DefaultFailureCauses = ["q850:34", "q850:38", "q850:41", "q850:42", "q850:47"];

    public IReadOnlyList<string> EffectiveOutcomes => Outcomes ?? DefaultOutcomes;

    public IReadOnlyList<string> EffectiveFailureCauses => FailureCauses ?? DefaultFailureCauses;
}

/// <summary>No delayed callback at night, local time of the customer. Bound from the "QuietHours" section.</summary>
public sealed class QuietHoursOptions
{
    public const string Section = "QuietHours";

    /// <summary>Keep delayed callbacks out of quiet hours. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Local time quiet hours begin. Default 21:00.</summary>
    public TimeOnly Start { get; set; } = new(21, 0);

    /// <summary>Local time quiet hours end. Default 09:00 (before <see cref="Start"/>: the hours run over midnight).</summary>
    public TimeOnly End { get; set; } = new(9, 0);

    /// <summary>IANA time zone for numbers no prefix in <see cref="TimeZones"/> matches (the operator's home zone). Default "Etc/UTC".</summary>
    [Required]
    public string DefaultTimeZone { get; set; } = "Etc/UTC";

    /// <summary>
    /// E.164 prefix to IANA time zone, longest prefix wins. Setting it adds to and overrides <see cref="DefaultTimeZones"/>
    /// entry by entry. Countries spanning several zones (+1, +7, +55, +61...) need their area codes here.
    /// </summary>
    public Dictionary<string, string> TimeZones { get; set; } = [];

    /// <summary>Single-zone countries, by country code: a start that any deployment refines.</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultTimeZones = new Dictionary<string, string>
    {
        ["+30"] = "Europe/Athens", ["+31"] = "Europe/Amsterdam", ["+32"] = "Europe/Brussels", ["+33"] = "Europe/Paris",
        ["+34"] = "Europe/Madrid", ["+36"] = "Europe/Budapest", ["+39"] = "Europe/Rome", ["+40"] = "Europe/Bucharest",
        ["+41"] = "Europe/Zurich", ["+43"] = "Europe/Vienna", ["+44"] = "Europe/London", ["+45"] = "Europe/Copenhagen",
        ["+46"] = "Europe/Stockholm", ["+47"] = "Europe/Oslo", ["+48"] = "Europe/Warsaw", ["+49"] = "Europe/Berlin",
        ["+351"] = "Europe/Lisbon", ["+353"] = "Europe/Dublin", ["+358"] = "Europe/Helsinki", ["+420"] = "Europe/Prague",
        ["+20"] = "Africa/Cairo", ["+27"] = "Africa/Johannesburg", ["+234"] = "Africa/Lagos", ["+254"] = "Africa/Nairobi",
        ["+81"] = "Asia/Tokyo", ["+82"] = "Asia/Seoul", ["+86"] = "Asia/Shanghai", ["+852"] = "Asia/Hong_Kong",
        ["+65"] = "Asia/Singapore", ["+66"] = "Asia/Bangkok", ["+63"] = "Asia/Manila", ["+60"] = "Asia/Kuala_Lumpur",
        ["+91"] = "Asia/Kolkata", ["+92"] = "Asia/Karachi", ["+880"] = "Asia/Dhaka", ["+90"] = "Europe/Istanbul",
        ["+966"] = "Asia/Riyadh", ["+971"] = "Asia/Dubai", ["+972"] = "Asia/Jerusalem", ["+64"] = "Pacific/Auckland",
    };

    public IReadOnlyDictionary<string, string> EffectiveTimeZones =>
        DefaultTimeZones.Concat(TimeZones).GroupBy(z => z.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
}

/// <summary>Mass drops from one cell or switching node: an outage incident. Bound from the "Outage" section.</summary>
public sealed class OutageOptions
{
    public const string Section = "Outage";

    /// <summary>Recognise outages and hold their recoveries until the cell carries traffic again. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The sliding window drops are counted in. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Dropped calls (distinct calls with a network-drop cause) from one serving cell within <see cref="Window"/>
    /// that declare an outage of the cell. Default 20: a cell carries a few dozen calls at once, and a score of
    /// them dropping together is a cell failing, not radio.
    /// </summary>
    [Range(2, 1_000_000)]
    public int CellThreshold { get; set; } = 20;

    /// <summary>Dropped calls from one switching node within <see cref="Window"/> that declare an outage of the node. Default 500.</summary>
    [Range(2, 10_000_000)]
    public int NodeThreshold { get; set; } = 500;
}
