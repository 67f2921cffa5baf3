using System.Text.RegularExpressions;

namespace CallRecovery.Tests;

/// <summary>
/// The service's folders depend one way: edges (Kafka ingest, the switch API, the HTTP API) on stages (decide,
/// deliver, publish outcomes, look up), stages on the recovery lifecycle, everything on pure policy and
/// infrastructure. Read from the sources' using directives and qualified names.
/// </summary>
public partial class ArchitectureTests
{
    /// <summary>A folder may depend only on folders of a lower rank.</summary>
    private static readonly Dictionary<string, int> Ranks = new(StringComparer.Ordinal)
    {
        ["Policy"] = 0, ["Observability"] = 0, ["Probes"] = 0,
        ["Kafka"] = 1, ["Redis"] = 1, ["Security"] = 1,
        ["Recoveries"] = 2, ["Outages"] = 2,
        ["Decisions"] = 3, ["Outcomes"] = 3,
        ["Delivery"] = 4, ["Lookup"] = 4,
        ["Ingest"] = 5, ["SwitchApi"] = 5, ["HttpApi"] = 5,
    };

    [Fact]
    public void Every_folder_of_the_service_has_a_place_in_the_layers()
    {
        var folders = Directory.GetDirectories(ServiceDirectory()).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToList();
        Assert.All(folders, f => Assert.True(Ranks.ContainsKey(f!), $"{f} has no rank"));
    }

    [Fact]
    public void Folders_depend_only_on_lower_layers_so_there_are_no_cycles()
    {
        var problems = new List<string>();
        foreach (var (folder, rank) in Ranks)
        {
            foreach (var file in Directory.GetFiles(Path.Combine(ServiceDirectory(), folder), "*.cs", SearchOption.AllDirectories))
            {
                foreach (var used in Dependencies(File.ReadAllText(file)).Where(d => d != folder))
                {
                    if (!Ranks.TryGetValue(used, out var usedRank) || usedRank >= rank)
                    {
                        problems.Add($"{folder}/{Path.GetFileName(file)} uses {used}");
                    }
                }
            }
        }

        Assert.Empty(problems);
    }

    [Fact]
    public void Pure_policy_does_no_io()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(ServiceDirectory(), "Policy"), "*.cs"))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain("StackExchange.Redis", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Confluent.Kafka", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Grpc.Core", text, StringComparison.Ordinal);
        }
    }

    private static IEnumerable<string> Dependencies(string source) =>
        UsingOrQualified().Matches(source).Select(m => m.Groups[1].Value).Where(Ranks.ContainsKey).Distinct();

    private static string ServiceDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CallRecovery.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("CallRecovery.sln not found above the test binaries."), "services", "CallRecovery");
    }

    [GeneratedRegex(@"\bCallRecovery\.([A-Z][A-Za-z]+)\b")]
    private static partial Regex UsingOrQualified();
}
