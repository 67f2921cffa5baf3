using System.Globalization;

namespace CallRecovery.Policy;

/// <summary>What a place (a cell or an area) showed: drops that became recoveries, those redialled by themselves, and how soon (whole seconds, rounded up, to count).</summary>
public sealed record PlaceRedials(long Drops, long Redials, IReadOnlyDictionary<int, long> WithinSeconds)
{
    public static PlaceRedials None { get; } = new(0, 0, new Dictionary<int, long>());
}

/// <summary>
/// Chooses a drop's grace period from what its cell taught, else its area, else the configured default: long enough
/// for <see cref="LearnedGraceOptions.Coverage"/> of the place's own redials to happen (and a second for their reports
/// to arrive), and no longer, within <see cref="LearnedGraceOptions.Min"/> and <see cref="LearnedGraceOptions.Max"/>.
/// Where people rarely redial (<see cref="LearnedGraceOptions.RareShare"/>) there is nothing to wait for: the minimum.
/// </summary>
public static class GraceRule
{
    /// <summary>The time a redial's report takes to reach the service, added to the redials' own time.</summary>
    public static readonly TimeSpan ReportAllowance = TimeSpan.FromSeconds(1);

    /// <summary>A cell's area: its id without the last part (an ECGI written mcc-mnc-tac-cell gives its tracking area); none for an id without parts.</summary>
    public static string? AreaOf(string cell)
    {
        var cut = cell.LastIndexOf('-');
        return cut > 0 ? cell[..cut] : null;
    }

    /// <summary>
    /// The redial's bucket: whole seconds after the drop, rounded up (a redial in the first second counts as 1); up to
    /// 50 ms past a whole second still counts in it (the two times come from different elements, stored to the ms).
    /// </summary>
    public static int BucketOf(TimeSpan afterDrop) => Math.Max(1, (int)Math.Ceiling(afterDrop.TotalSeconds - 0.05));

    public static LearnedGraceChoice Choose(string cell, PlaceRedials ofCell, PlaceRedials ofArea, LearnedGraceOptions options, TimeSpan defaultGrace)
    {
        ArgumentNullException.ThrowIfNull(ofCell);
        ArgumentNullException.ThrowIfNull(ofArea);
        ArgumentNullException.ThrowIfNull(options);
        if (ofCell.Drops >= options.MinDrops)
        {
            return FromPlace("cell", $"cell {cell}", ofCell, options);
        }

        if (ofArea.Drops >= options.MinDrops && AreaOf(cell) is { } area)
        {
            return FromPlace("area", $"area {area} (cell {cell}: {ofCell.Drops} drops, fewer than {options.MinDrops})", ofArea, options);
        }

        return new LearnedGraceChoice(defaultGrace, "default",
            $"the default (Switching:GracePeriod): cell {cell} and its area have shown fewer than {options.MinDrops} drops ({ofCell.Drops}, {ofArea.Drops})");
    }

    private static LearnedGraceChoice FromPlace(string basis, string place, PlaceRedials seen, LearnedGraceOptions options)
    {
        var share = (double)seen.Redials / seen.Drops;
        if (seen.Redials == 0 || share < options.RareShare)
        {
            return new LearnedGraceChoice(options.Min, "rare", $"{place}: {seen.Redials} of {seen.Drops} drops redialled by themselves ({Percent(share)}): nothing to wait for, the minimum");
        }

        // The fewest whole seconds within which the coverage of its redials happened.
        var wanted = options.Coverage * seen.Redials;
        long counted = 0;
        var within = 0;
        foreach (var (seconds, count) in seen.WithinSeconds.OrderBy(b => b.Key))
        {
            counted += count;
            within = seconds;
            if (counted >= wanted)
            {
                break;
            }
        }

        var grace = TimeSpan.FromSeconds(within) + ReportAllowance;
        var bounded = grace < options.Min ? options.Min : grace > options.Max ? options.Max : grace;
        return new LearnedGraceChoice(bounded, basis,
            $"{place}: {seen.Redials} of {seen.Drops} drops redialled by themselves ({Percent(share)}), {Percent(options.Coverage)} of them within {within} s"
            + (bounded != grace ? $"; {grace.TotalSeconds:0} s bounded to {bounded.TotalSeconds:0} s" : string.Empty));
    }

    private static string Percent(double share) => (share * 100).ToString("0", CultureInfo.InvariantCulture) + "%";
}
