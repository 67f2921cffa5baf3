using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace CallRecovery.Policy;

/// <summary>
/// Which recoveries call back and which run in shadow, from <see cref="RolloutOptions"/> as configured now (the
/// configuration is read live: a changed file applies to the next recoveries decided, without a restart).
/// </summary>
public sealed class RolloutPolicy(IOptionsMonitor<RolloutOptions> options)
{
    /// <summary>The rollout in force.</summary>
    public RolloutOptions Current => options.CurrentValue;

    /// <summary>True when a drop's recovery runs in shadow: shadow mode, or a canary that does not select it.</summary>
    public bool IsShadow(string switchingNode, string servingCell, string customer)
    {
        var rollout = options.CurrentValue;
        if (rollout.Mode == RolloutMode.Shadow)
        {
            return true;
        }

        var canary = rollout.Canary;
        if (!canary.SelectsAnything)
        {
            return false;
        }

        var selected = canary.SwitchingNodes.Contains(switchingNode, StringComparer.Ordinal)
            || (servingCell.Length > 0 && canary.CellPrefixes.Any(p => servingCell.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
            || Share(customer) < canary.Percent;
        return !selected;
    }

    /// <summary>Where a number falls in [0, 100): the same place every time, on every replica.</summary>
    public static double Share(string number)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(number), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash) % 1_000_000 / 10_000d;
    }
}
