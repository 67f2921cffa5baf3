using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Policy;

/// <summary>Whether recoveries call anyone: live, in shadow (everything but the call), or live for a canary only. Bound from the "Rollout" section, read live.</summary>
public sealed class RolloutOptions
{
    public const string Section = "Rollout";

    /// <summary>
    /// <see cref="RolloutMode.Live"/> (the default): recoveries call back (those the <see cref="Canary"/> selects, when it
    /// selects anything). <see cref="RolloutMode.Shadow"/>: every recovery is decided, held, paced, scheduled and recorded
    /// as live, and no command reaches a switch.
    /// </summary>
    public RolloutMode Mode { get; set; } = RolloutMode.Live;

    /// <summary>In live mode, the recoveries that call back when any criterion is set; all others run in shadow.</summary>
    public CanaryOptions Canary { get; set; } = new();

    /// <summary>
    /// A JSON file holding this section, read again whenever it changes (a mounted ConfigMap): the rollout changes
    /// without a restart. Read at start from the other sources; none by default.
    /// </summary>
    public string File { get; set; } = string.Empty;
}

public enum RolloutMode
{
    Live,
    Shadow,
}

/// <summary>A canary: a recovery is live when its drop matches any criterion set (node, cell prefix, or the subscriber's share).</summary>
public sealed class CanaryOptions
{
    /// <summary>Switching nodes (as in the drop event) whose drops are recovered live.</summary>
    public List<string> SwitchingNodes { get; set; } = [];

    /// <summary>Serving-cell id prefixes (e.g. "234-15-1a2b") whose drops are recovered live.</summary>
    public List<string> CellPrefixes { get; set; } = [];

    /// <summary>This percentage of customers, by a stable hash of their number (the same customers every time), recovered live. 0: none by share.</summary>
    [Range(0d, 100d)]
    public double Percent { get; set; }

    public bool SelectsAnything => SwitchingNodes.Count > 0 || CellPrefixes.Count > 0 || Percent > 0;
}
