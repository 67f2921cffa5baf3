using Microsoft.Extensions.Options;

namespace CallRecovery.Policy;

/// <summary>Which switch places a recovery's callback, when, until when, and in which language.</summary>
public sealed class SwitchRouter(IOptions<SwitchingOptions> options, IOptions<RecoveryPolicyOptions> policy)
{
    private readonly SwitchingOptions _options = options.Value;
    private readonly TimeSpan? _vulnerableDeadline = policy.Value.VulnerableDeadline;
    private readonly KeyValuePair<string, string>[] _languages = [.. options.Value.Announcement.Languages.OrderByDescending(l => l.Key.Length)];

    public RecoveryPlan Plan(string switchingNode, DateTimeOffset dropTime, bool vulnerable = false) => new(
        _options.Routes.TryGetValue(switchingNode, out var routed) ? routed : _options.DefaultSwitch,
        dropTime + _options.GracePeriod,
        DeadlineOf(dropTime, vulnerable));

    /// <summary>The callback deadline: the switching one, or for a vulnerable customer <c>Policy:VulnerableDeadline</c> when longer.</summary>
    public DateTimeOffset DeadlineOf(DateTimeOffset dropTime, bool vulnerable) =>
        dropTime + (vulnerable && _vulnerableDeadline > _options.CallbackDeadline ? _vulnerableDeadline.Value : _options.CallbackDeadline);

    public string LanguageFor(string customer)
    {
        foreach (var (prefix, language) in _languages)
        {
            if (customer.StartsWith(prefix, StringComparison.Ordinal))
            {
                return language;
            }
        }

        return _options.Announcement.DefaultLanguage;
    }
}

/// <summary>
/// The switch that gets the command, when it is due (after the grace period) and its deadline; and what it waits
/// for first, if anything (<paramref name="Hold"/>: the customer's coverage, or the outage <paramref name="Incident"/>).
/// </summary>
public sealed record RecoveryPlan(string SwitchId, DateTimeOffset DueAt, DateTimeOffset Deadline, string Hold = "", string Incident = "")
{
    /// <summary>The grace period it waits after the drop, when learned (<c>Switching:LearnedGrace</c>), and why that long.</summary>
    public LearnedGraceChoice? Grace { get; init; }
}

/// <summary>A grace period chosen from what a cell or its area taught (<paramref name="Basis"/>: cell, area, rare, default), and why, in words.</summary>
public sealed record LearnedGraceChoice(TimeSpan Grace, string Basis, string Why);
