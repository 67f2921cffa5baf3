using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Policy;

/// <summary>
/// Which reported releases are network drops worth recovering. Bound from the "Classification" section.
/// Every default traces back to docs/DOMAIN notes (Q.850, 3GPP SIP RELEASE_CAUSE, S1AP/NGAP, Rx, CDR).
/// </summary>
public sealed class ClassificationOptions
{
    public const string Section = "Classification";

    /// <summary>
    /// The release causes that mean the network dropped an answered call, as "protocol:code" or
    /// "protocol:name" (protocols: q850, sip, sip-release-cause, radio, rx, cdr). Every other cause is
    /// treated as normal clearing. Default: <see cref="DefaultDropCauses"/>. Setting it replaces the whole table.
    /// </summary>
    public string[]? DropCauses { get; set; }

    /// <summary>Calls answered for less than this are not recovered. Default 10 s (contact-centre practice: shorter calls count as failed set-ups).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MinimumAnsweredDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Emergency numbers as dialled. Calls to them are never recovered. Default: 112, 911, 999, 000, 110, 119, 118, 100, 101, 102, 08.</summary>
    public string[]? EmergencyNumbers { get; set; }

    /// <summary>
    /// Destination prefixes (E.164, with '+') that are never recovered: premium rate, adult, voting lines.
    /// Default: +1900, +1976, +44909, +44908, +4487. Destinations that are not E.164 (short codes) are always excluded.
    /// </summary>
    public string[]? ExcludedDestinationPrefixes { get; set; }

    /// <summary>
    /// The network-drop causes of the domain notes:
    /// Q.850 27 destination out of order, 38 network out of order, 41 temporary failure, 42 switching equipment
    /// congestion, 44 requested channel not available, 47 resource unavailable, 102 recovery on timer expiry,
    /// 111 protocol error, 127 interworking; SIP Reason RELEASE_CAUSE 2 RTP/RTCP timeout, 3 media bearer lost,
    /// 4 SIP dialog timer expired, 5 SIP response timeout; S1AP/NGAP "radio connection with UE lost";
    /// Rx Abort-Cause 0 BEARER_RELEASED and 2 INSUFFICIENT_BEARER_RESOURCES; CDR cause 4 stable call abnormal termination.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultDropCauses =
    [
        "q850:27", "q850:38", "q850:41", "q850:42", "q850:44", "q850:47", "q850:102", "q850:111", "q850:127",
        "sip-release-cause:2", "sip-release-cause:3", "sip-release-cause:4", "sip-release-cause:5",
        "radio:radio-connection-with-ue-lost",
        "rx:0", "rx:2",
        "cdr:4",
    ];

    /// <summary>
    /// The drop causes after which the callback waits for the customer to be reachable again (a
    /// <c>SubscriberReachable</c> event: re-attach, IMS re-registration) instead of the fixed grace period, up to
    /// the deadline, when the customer is the party whose leg dropped (or the report does not say). Same form as
    /// <see cref="DropCauses"/>. Default: <see cref="DefaultWaitForReachabilityCauses"/>. Setting it replaces the table.
    /// </summary>
    public string[]? WaitForReachabilityCauses { get; set; }

    /// <summary>
    /// Wait for the customer's coverage after the causes in <see cref="WaitForReachabilityCauses"/>. Turn it off in
    /// a network that sends no <c>SubscriberReachable</c> events: those callbacks would otherwise all end
    /// <c>CUSTOMER_UNREACHABLE</c>. Default true.
    /// </summary>
    public bool WaitForReachability { get; set; } = true;

    /// <summary>Radio loss: S1AP/NGAP "radio connection with UE lost"; Q.850 27 destination out of order (the phone left coverage).</summary>
    public static readonly IReadOnlyList<string> DefaultWaitForReachabilityCauses = ["radio:radio-connection-with-ue-lost", "q850:27"];

    public IReadOnlyList<string> EffectiveWaitForReachabilityCauses => WaitForReachabilityCauses ?? DefaultWaitForReachabilityCauses;

    public static readonly IReadOnlyList<string> DefaultEmergencyNumbers =
        ["112", "911", "999", "000", "110", "119", "118", "100", "101", "102", "08"];

    public static readonly IReadOnlyList<string> DefaultExcludedDestinationPrefixes =
        ["+1900", "+1976", "+44909", "+44908", "+4487"];

    public IReadOnlyList<string> EffectiveDropCauses => DropCauses ?? DefaultDropCauses;

    public IReadOnlyList<string> EffectiveEmergencyNumbers => EmergencyNumbers ?? DefaultEmergencyNumbers;

    public IReadOnlyList<string> EffectiveExcludedDestinationPrefixes => ExcludedDestinationPrefixes ?? DefaultExcludedDestinationPrefixes;
}
