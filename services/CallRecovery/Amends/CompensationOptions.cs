using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Amends;

/// <summary>
/// Amends for a recovery that ended without the reconnect the customer chose: an apology, and a credit per outcome.
/// Bound from the "Compensation" section.
/// </summary>
public sealed class CompensationOptions
{
    public const string Section = "Compensation";

    /// <summary>Whether failed recoveries are compensated at all. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How the apology is sent. Default "SMS".</summary>
    [Required]
    public string Channel { get; set; } = "SMS";

    /// <summary>
    /// At most this many credits per customer per day (their local day, by the quiet-hours time zone of their number);
    /// past it the apology still goes, without a credit. Default 3 (the 2015 Indian drop-credit rule: at most 3 a day).
    /// 0: apologies only.
    /// </summary>
    [Range(0, 100)]
    public int DailyCreditCap { get; set; } = 3;

    /// <summary>
    /// The credit per outcome (keys are outcome names as published, e.g. "NO_ANSWER", "EXPIRED"), for outcomes that
    /// differ from <see cref="DefaultCredit"/>. A credit with neither minutes nor an amount: none (zero allowed).
    /// </summary>
    public Dictionary<string, CreditOption> Credits { get; set; } = [];

    /// <summary>The credit for outcomes not in <see cref="Credits"/>. Default 5 free minutes.</summary>
    public CreditOption DefaultCredit { get; set; } = new() { FreeMinutes = 5 };

    /// <summary>
    /// The apology's template per outcome (keys as in <see cref="Credits"/>); others get "apology-" and the outcome in
    /// lower case with dashes (e.g. "apology-no-answer").
    /// </summary>
    public Dictionary<string, string> Templates { get; set; } = [];
}

/// <summary>A goodwill credit: free minutes, or an amount in a currency's minor units (one of them; neither is none).</summary>
public sealed class CreditOption
{
    [Range(0, 10_000)]
    public int FreeMinutes { get; set; }

    /// <summary>ISO 4217 currency of <see cref="MinorUnits"/>, e.g. "INR".</summary>
    public string Currency { get; set; } = string.Empty;

    [Range(0, 1_000_000_000)]
    public long MinorUnits { get; set; }

    public bool IsNone => FreeMinutes == 0 && MinorUnits == 0;
}
