using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Policy;

/// <summary>How often one subscriber may be called back, and who is called. Bound from the "Policy" section.</summary>
public sealed class RecoveryPolicyOptions
{
    public const string Section = "Policy";

    /// <summary>At most this many recoveries per subscriber in <see cref="Window"/>. Default 3 (the 2015 Indian drop-credit rule: at most 3 a day).</summary>
    [Range(1, 1000)]
    public int MaxRecoveriesPerWindow { get; set; } = 3;

    /// <summary>The rolling window for <see cref="MaxRecoveriesPerWindow"/>. Default 24 h.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The least time between two recoveries for one subscriber, so a flapping cell cannot call someone back again and again. Default 10 min.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan CoolOff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// After an emergency call ends (made by the subscriber, or the emergency centre calling them back) nothing of
    /// ours may call that subscriber for this long: the emergency centre may call back. Counted from the call's end
    /// (its release report's time), not its answer. Default 60 min.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan EmergencyProtection { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>
    /// How long an emergency call reported connected, and not (yet) reported ended, counts as going on: the subscriber
    /// is protected until this long after it began, and <see cref="EmergencyProtection"/> after that. Default 24 h.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan EmergencyCallLimit { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How far apart the clocks of two network elements may be when their times are compared: a re-attach, a redial or
    /// a reconnection stamped up to this long before the drop still counts as after it. Default 2 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ClockTolerance { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long an opt-out lasts before the subscriber must renew it. Default 365 days (every Redis key has a TTL).</summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "3650.00:00:00")]
    public TimeSpan OptOutDuration { get; set; } = TimeSpan.FromDays(365);

    /// <summary>
    /// The callback deadline of a vulnerable customer's recovery (flagged by CRM or on the drop event), from the drop:
    /// longer than <c>Switching:CallbackDeadline</c> gives them more time through a storm or an outage; shorter or unset
    /// keeps the switching deadline. Default unset.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan? VulnerableDeadline { get; set; }

    /// <summary>The longest a CRM vulnerability flag may last before it must be set again (every Redis key has a TTL). Default 365 days.</summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "3650.00:00:00")]
    public TimeSpan VulnerableFlagLimit { get; set; } = TimeSpan.FromDays(365);

    /// <summary>Who is called back. Default <see cref="CallbackParty.DroppedParty"/>: the party whose leg dropped, the caller when unknown.</summary>
    public CallbackParty CallBack { get; set; } = CallbackParty.DroppedParty;
}

public enum CallbackParty
{
    /// <summary>The party whose leg dropped; the caller when the report does not say.</summary>
    DroppedParty,
    /// <summary>Always the caller.</summary>
    Caller,
    /// <summary>Always the callee.</summary>
    Callee,
}
