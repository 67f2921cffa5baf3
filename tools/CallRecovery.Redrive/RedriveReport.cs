using System.Globalization;
using CallRecovery.Ingest;

namespace CallRecovery.Redrive;

/// <summary>What a run found and did: counts by the code each dead letter was dead-lettered with, verdicts, what was republished.</summary>
internal sealed class RedriveReport
{
    private readonly SortedDictionary<string, Counts> _byCode = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> _invalidNow = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _destinations = new(StringComparer.Ordinal);

    public long Read { get; set; }

    public long Matched { get; private set; }

    public long StillInvalid { get; private set; }

    public long Incomplete { get; private set; }

    public long WouldDecide { get; private set; }

    /// <summary>Drops that would be decided, but past their callback deadline: recorded as stale, no callback.</summary>
    public long PastDeadline { get; private set; }

    public long Republished { get; set; }

    /// <summary>The topics the events it would decide go back to.</summary>
    public IReadOnlyCollection<string> Destinations => _destinations;

    public void Add(DeadLetterOrigin origin, RedriveCheck check, string destination)
    {
        Matched++;
        var counts = Of(_byCode, Code(origin.ErrorCode));
        counts.Matched++;
        switch (check.Verdict)
        {
            case RedriveVerdict.StillInvalid:
                StillInvalid++;
                counts.StillInvalid++;
                _invalidNow[Code(check.Code)] = _invalidNow.GetValueOrDefault(Code(check.Code)) + 1;
                break;
            case RedriveVerdict.Incomplete:
                Incomplete++;
                counts.Incomplete++;
                break;
            default:
                WouldDecide++;
                counts.WouldDecide++;
                PastDeadline += check.PastDeadline ? 1 : 0;
                _destinations.Add(destination);
                break;
        }
    }

    /// <summary>The counts by error code and what the configuration in force makes of them.</summary>
    public void Print(TextWriter output, string topic, RedriveFilter filter, ServiceConfiguration service)
    {
        output.WriteLine($"Dead letters on {topic}; filters: {filter.Describe()}.");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Judged by the configuration in force (Validation:MaxClockSkew {service.Validation.MaxClockSkew:c}, Validation:MaxCallDuration {service.Validation.MaxCallDuration:c}, Switching:CallbackDeadline {service.CallbackDeadline:c}):"));
        output.WriteLine(Row("error code (dead-lettered with)", "matched", "still invalid", "would decide", "incomplete"));
        foreach (var (code, counts) in _byCode)
        {
            output.WriteLine(Row(code, N(counts.Matched), N(counts.StillInvalid), N(counts.WouldDecide), N(counts.Incomplete)));
        }

        if (_invalidNow.Count > 0)
        {
            output.WriteLine("Still invalid, by the error code the service gives now:");
            foreach (var (code, count) in _invalidNow)
            {
                output.WriteLine(Row("  " + code, N(count)));
            }
        }

        if (PastDeadline > 0)
        {
            output.WriteLine($"{N(PastDeadline)} of the drops it would decide are past their callback deadline: they will be decided stale, with no callback.");
        }
    }

    public string Totals => string.Create(CultureInfo.InvariantCulture,
        $"read {Read}, matched {Matched}, still invalid {StillInvalid}, incomplete {Incomplete}, would decide {WouldDecide}, republished {Republished}");

    private static string Row(string first, params string[] rest) =>
        "  " + first.PadRight(34) + string.Concat(rest.Select(r => r.PadLeft(15)));

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A header value as a code: the service's codes are snake_case words; anything else is not echoed.</summary>
    public static string Code(string code) =>
        code.Length is > 0 and <= 64 && code.All(c => c is (>= 'a' and <= 'z') or '_') ? code : "(unknown)";

    private static Counts Of(SortedDictionary<string, Counts> byCode, string code)
    {
        if (!byCode.TryGetValue(code, out var counts))
        {
            counts = new Counts();
            byCode[code] = counts;
        }

        return counts;
    }

    private sealed class Counts
    {
        public long Matched { get; set; }

        public long StillInvalid { get; set; }

        public long WouldDecide { get; set; }

        public long Incomplete { get; set; }
    }
}
