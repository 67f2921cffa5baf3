using System.Globalization;
using CallRecovery.Contracts.V1;

namespace CallRecovery.SwitchEmulator;

public static class OutcomeMix
{
    private static readonly Dictionary<string, Outcome> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["reconnected"] = Outcome.Reconnected,
        ["no-answer"] = Outcome.NoAnswer,
        ["declined"] = Outcome.CustomerDeclined,
        ["busy"] = Outcome.Busy,
        ["unreachable"] = Outcome.OtherPartyUnreachable,
        ["failed"] = Outcome.Failed,
    };

    /// <summary>Parses "reconnected=70,no-answer=10" into weights; says what is wrong otherwise.</summary>
    public static IReadOnlyDictionary<Outcome, double> Parse(string text)
    {
        var weights = new Dictionary<Outcome, double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pair = part.Split('=', 2);
            if (pair.Length != 2 || !Names.TryGetValue(pair[0], out var outcome) || !double.TryParse(pair[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var weight) || weight < 0)
            {
                throw new FormatException($"'{part}' is not outcome=weight with outcome one of {string.Join(", ", Names.Keys)}.");
            }

            weights[outcome] = weight;
        }

        return weights.Values.Sum() > 0 ? weights : throw new FormatException("The outcome weights must not all be zero.");
    }
}
