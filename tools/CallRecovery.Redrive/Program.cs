using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using CallRecovery.Contracts;
using Confluent.Kafka;

namespace CallRecovery.Redrive;

/// <summary>
/// `callrecovery-redrive [filters] [--apply]`: reads the dead-letter topic, reports what the configuration in force
/// (the service's appsettings.json and environment variables) would make of each dead letter, and, with --apply or a
/// "yes" on a terminal, republishes those it would decide to the topic they came from. A named class rather than
/// top-level statements, so it never clashes with the service's Program.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var since = new Option<DateTimeOffset?>("--since")
        {
            Description = "Only dead letters whose Kafka timestamp (the original event's, which the dead letter keeps) is at or after this: ISO 8601 (2026-12-06T09:00Z) or an age (90m, 6h, 2d).",
            CustomParser = Time,
        };
        var until = new Option<DateTimeOffset?>("--until") { Description = "Only dead letters whose Kafka timestamp is before this (same forms as --since).", CustomParser = Time };
        var errorCodes = new Option<string[]>("--error-code") { Description = "Only dead letters with this dlq-error-code, e.g. inconsistent_timestamps (repeatable).", AllowMultipleArgumentsPerToken = true };
        var sourcePartitions = new Option<int[]>("--source-partition") { Description = "Only dead letters from this partition of their source topic, dlq-source-partition (repeatable).", AllowMultipleArgumentsPerToken = true };
        var sourceOffsets = new Option<OffsetRange?>("--source-offsets")
        {
            Description = "Only dead letters whose source offset (dlq-source-offset) is in FROM-TO, both included; either end may be left open (1200-, -1350).",
            CustomParser = Offsets,
        };
        var apply = new Option<bool>("--apply") { Description = "Republish without asking. Without it the run is a dry run (on a terminal it asks before republishing)." };
        var list = new Option<bool>("--list") { Description = "Also one line per matching dead letter: its place, codes, verdict and ids (what looks like a number masked)." };
        var settings = new Option<string[]>("--settings") { Description = "Further JSON settings files (like the service's appsettings.json), read before environment variables." };
        var root = new RootCommand(
            "Reads the dead-letter topic and reports, by error code, what the service's configuration in force would make of each dead letter: "
            + "still invalid, or decided. Dry run by default; --apply republishes the ones it would decide to their input topic with their "
            + "original key and headers. Safe to repeat: the service decides each report once.")
        {
            since, until, errorCodes, sourcePartitions, sourceOffsets, apply, list, settings,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            var filter = new RedriveFilter(
                parse.GetValue(since),
                parse.GetValue(until),
                [.. (parse.GetValue(errorCodes) ?? []).SelectMany(c => c.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
                [.. parse.GetValue(sourcePartitions) ?? []],
                parse.GetValue(sourceOffsets));

            // The bundled librdkafka, explicitly, before any Kafka client: never a system one (Debian's 2.0.2 never gets partitions).
            string library;
            try
            {
                library = BundledLibrdkafka.Load();
            }
            catch (DllNotFoundException e)
            {
                await Console.Error.WriteLineAsync("callrecovery-redrive cannot run: " + e.Message).ConfigureAwait(false);
                return 3;
            }

            if (BundledLibrdkafka.Loaded < BundledLibrdkafka.Required)
            {
                await Console.Error.WriteLineAsync($"callrecovery-redrive cannot run: librdkafka {BundledLibrdkafka.Loaded} is loaded, older than {BundledLibrdkafka.Required} that it was built with.").ConfigureAwait(false);
                return 3;
            }

            await Console.Error.WriteLineAsync($"librdkafka {Library.VersionString} from {library}").ConfigureAwait(false);
            using var service = ServiceConfiguration.Bind(ServiceConfiguration.Read(parse.GetValue(settings) ?? []), Console.Error);
            if (service is null)
            {
                return 2;
            }

            var progress = new ProgressLine(Console.Error, terminal: !Console.IsErrorRedirected);
            var run = new RedriveRun(service, filter, Console.Out, Console.Error, progress);
            return await run.RunAsync(parse.GetValue(apply), parse.GetValue(list), Confirm, cancellationToken).ConfigureAwait(false);
        });

        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }

    /// <summary>Asks on a terminal only: a redirected run (a script, a Kubernetes Job) stays a dry run unless --apply says otherwise.</summary>
    private static bool Confirm(string question)
    {
        if (Console.IsInputRedirected || Console.IsOutputRedirected)
        {
            return false;
        }

        Console.Out.Write(question + " [y/N] ");
        return Console.ReadLine()?.Trim().ToUpperInvariant() is "Y" or "YES";
    }

    private static DateTimeOffset? Time(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (text.Length > 1 && char.IsAsciiLetter(text[^1]) && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            TimeSpan? age = char.ToLowerInvariant(text[^1]) switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                'd' => TimeSpan.FromDays(amount),
                _ => null,
            };
            if (age is { } ago)
            {
                return DateTimeOffset.UtcNow - ago;
            }
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return at;
        }

        result.AddError($"'{text}' is neither an ISO 8601 time (2026-12-06T09:00Z) nor an age (90m, 6h, 2d).");
        return null;
    }

    private static OffsetRange? Offsets(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        var parts = text.Split('-');
        if (parts.Length == 2 && Bound(parts[0], out var from) && Bound(parts[1], out var to) && (from ?? 0) <= (to ?? long.MaxValue) && text != "-")
        {
            return new OffsetRange(from, to);
        }

        if (parts.Length == 1 && Bound(parts[0], out var single) && single is not null)
        {
            return new OffsetRange(single, single);
        }

        result.AddError($"'{text}' is not an offset range: FROM-TO (1200-1350), FROM- (1200-), -TO (-1350) or one offset.");
        return null;

        static bool Bound(string part, out long? value)
        {
            value = null;
            if (part.Length == 0)
            {
                return true;
            }

            if (long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                value = parsed;
                return true;
            }

            return false;
        }
    }
}
