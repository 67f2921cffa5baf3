using System.Globalization;
using System.Text.RegularExpressions;

namespace CallRecovery.Demo;

/// <summary>Reads the service's Prometheus endpoint, as a dashboard would.</summary>
public sealed partial class ServiceMetrics(Uri serviceHttp) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = serviceHttp, Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>Decisions so far by reason.</summary>
    public async Task<IReadOnlyDictionary<string, double>> DecisionsAsync(CancellationToken cancellationToken)
    {
        var text = await _http.GetStringAsync(new Uri("/metrics", UriKind.Relative), cancellationToken);
        var decisions = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (Match match in DecisionLine().Matches(text))
        {
            var reason = match.Groups["reason"].Value;
            decisions[reason] = decisions.GetValueOrDefault(reason) + double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        return decisions;
    }

    public void Dispose() => _http.Dispose();

    [GeneratedRegex("""^callrecovery_decisions_total\{[^}]*callrecovery_decision_reason="(?<reason>[a-z_]+)"[^}]*\} (?<value>[0-9.eE+]+)""", RegexOptions.Multiline)]
    private static partial Regex DecisionLine();
}
