using System.Globalization;
using System.Text.RegularExpressions;

namespace CallRecovery.Demo;

/// <summary>What the demo shows of the service's metrics, from one scrape. Missing series read as zero.</summary>
/// <param name="Decisions">Decisions so far by reason (callrecovery_decisions_total).</param>
/// <param name="OpenIncidents">Outage incidents declared and not yet ended (callrecovery_outage_open_incidents).</param>
/// <param name="OutageHeld">Recoveries held by open outage incidents now (callrecovery_outage_held_recoveries).</param>
/// <param name="HeldTotal">Recoveries held so far, by hold: reachability, outage (callrecovery_recoveries_held_total).</param>
/// <param name="Retried">Callbacks tried again after no answer, busy or a passing failure (callrecovery_callbacks_retried_total).</param>
/// <param name="Grace">The learned grace periods chosen, by basis: how many and their sum in seconds (callrecovery_grace_duration_seconds).</param>
/// <param name="Redialled">Recoveries cancelled by the parties' own redial, by whether the callback had gone out (callrecovery_recoveries_redialled_total).</param>
public sealed record ServiceFigures(
    IReadOnlyDictionary<string, double> Decisions,
    double OpenIncidents,
    double OutageHeld,
    IReadOnlyDictionary<string, double> HeldTotal,
    double Retried,
    IReadOnlyDictionary<string, (double Count, double Sum)> Grace,
    IReadOnlyDictionary<string, double> Redialled)
{
    public static ServiceFigures None { get; } = new(new Dictionary<string, double>(), 0, 0, new Dictionary<string, double>(), 0,
        new Dictionary<string, (double, double)>(), new Dictionary<string, double>());
}

/// <summary>Reads the service's Prometheus endpoint, as a dashboard would.</summary>
public sealed partial class ServiceMetrics(Uri serviceHttp) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = serviceHttp, Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>One scrape: decisions, outage incidents and holds, retried callbacks.</summary>
    public async Task<ServiceFigures> ReadAsync(CancellationToken cancellationToken)
    {
        var text = await _http.GetStringAsync(new Uri("/metrics", UriKind.Relative), cancellationToken);
        var decisions = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var held = new SortedDictionary<string, double>(StringComparer.Ordinal);
        double openIncidents = 0, outageHeld = 0, retried = 0;
        var grace = new SortedDictionary<string, (double Count, double Sum)>(StringComparer.Ordinal);
        var redialled = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (Match match in SampleLine().Matches(text))
        {
            if (!double.TryParse(match.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                continue;
            }

            var labels = match.Groups["labels"].Value;
            switch (match.Groups["name"].Value)
            {
                case "callrecovery_decisions_total" when Label(labels, "callrecovery_decision_reason") is { } reason:
                    decisions[reason] = decisions.GetValueOrDefault(reason) + value;
                    break;
                case "callrecovery_outage_open_incidents":
                    openIncidents += value;
                    break;
                case "callrecovery_outage_held_recoveries":
                    outageHeld += value;
                    break;
                case "callrecovery_recoveries_held_total":
                    var hold = Label(labels, "callrecovery_hold") ?? "other";
                    held[hold] = held.GetValueOrDefault(hold) + value;
                    break;
                case "callrecovery_callbacks_retried_total":
                    retried += value;
                    break;
                case "callrecovery_grace_duration_seconds_count" when Label(labels, "callrecovery_grace_basis") is { } basis:
                    grace[basis] = (grace.GetValueOrDefault(basis).Count + value, grace.GetValueOrDefault(basis).Sum);
                    break;
                case "callrecovery_grace_duration_seconds_sum" when Label(labels, "callrecovery_grace_basis") is { } basis:
                    grace[basis] = (grace.GetValueOrDefault(basis).Count, grace.GetValueOrDefault(basis).Sum + value);
                    break;
                case "callrecovery_recoveries_redialled_total" when Label(labels, "callrecovery_callback_sent") is { } sent:
                    redialled[sent] = redialled.GetValueOrDefault(sent) + value;
                    break;
            }
        }

        return new ServiceFigures(decisions, openIncidents, outageHeld, held, retried, grace, redialled);
    }

    public void Dispose() => _http.Dispose();

    private static string? Label(string labels, string name)
    {
        foreach (Match label in LabelPair().Matches(labels))
        {
            if (label.Groups["key"].Value == name)
            {
                return label.Groups["value"].Value;
            }
        }

        return null;
    }

    // A sample: name, optional {labels}, value (a timestamp may follow). Comment lines (# HELP, # TYPE) do not match.
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>[^}]*)\})? (?<value>[^ \r\n]+)""", RegexOptions.Multiline)]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
