using System.Text.RegularExpressions;

namespace CallRecovery.Tests.Architecture;

/// <summary>
/// The service's folders depend one way: edges (Kafka ingest, the switch API, the HTTP API) on stages (decide,
/// deliver, publish outcomes, look up), stages on the recovery lifecycle, everything on pure policy and
/// infrastructure. Read from the compiled assembly's type references (<see cref="TypeReferences"/>), not its text.
/// </summary>
public partial class ArchitectureTests
{
    /// <summary>A folder may depend only on folders of a lower rank. <see cref="Root"/> is Program.cs, which composes them all.</summary>
    public static readonly IReadOnlyDictionary<string, int> Ranks = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["Policy"] = 0, ["Observability"] = 0, ["Hosting"] = 0,
        ["Probes"] = 1,
        ["Kafka"] = 2, ["Redis"] = 2, ["Security"] = 2,
        ["Recoveries"] = 3, ["Subscribers"] = 3,
        ["Outages"] = 4, ["Outcomes"] = 4,
        ["Decisions"] = 5, ["Amends"] = 5,
        ["Delivery"] = 6, ["Lookup"] = 6,
        ["Ingest"] = 7, ["SwitchApi"] = 7, ["HttpApi"] = 7,
    };

    private const string Root = "(root)";
    private const int RootRank = 8;

    [Fact]
    public void Every_folder_of_the_service_has_a_place_in_the_layers()
    {
        var folders = Directory.GetDirectories(ServiceDirectory()).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToList();
        Assert.All(folders, f => Assert.True(Ranks.ContainsKey(f!), $"{f} has no rank"));
        Assert.Equal(["Program.cs"], Directory.GetFiles(ServiceDirectory(), "*.cs").Select(Path.GetFileName));
    }

    [Fact]
    public void Every_type_of_the_service_lives_in_a_ranked_folder()
    {
        var unranked = ServiceReferences().Select(r => (r.FromNamespace, r.FromType)).Distinct()
            .Where(t => FolderOf(t.FromNamespace, t.FromType) is { } folder && folder != Root && !Ranks.ContainsKey(folder))
            .Select(t => t.FromType).ToList();
        Assert.Empty(unranked);
    }

    [Fact]
    public void Folders_depend_only_on_lower_layers_so_there_are_no_cycles()
    {
        Assert.Empty(Violations(ServiceReferences()));
    }

    [Fact]
    public void The_test_catches_an_upward_reference_however_it_is_written()
    {
        // Planted.cs puts types in the Policy folder's namespace of this test assembly that use a Delivery type,
        // once partially qualified and once through a global using alias: both must show.
        var planted = Violations(TypeReferences.Read(typeof(ArchitectureTests).Assembly.Location)
            .Where(r => r.FromNamespace.StartsWith("CallRecovery.Policy.Planted", StringComparison.Ordinal)));

        Assert.Contains(planted, v => v.Contains("PartiallyQualified", StringComparison.Ordinal) && v.Contains("CallRecovery.Delivery.DispatchSignal", StringComparison.Ordinal));
        Assert.Contains(planted, v => v.Contains("ThroughGlobalUsing", StringComparison.Ordinal) && v.Contains("CallRecovery.Delivery.DispatchSignal", StringComparison.Ordinal));
    }

    [Fact]
    public void Each_folder_alone_uses_its_Redis_keys()
    {
        // A folder's keys class (RecoveryKeys, SubscriberKeys, ...) names its data; only that folder reads or writes it.
        var keyTypes = ServiceReferences().Select(r => (r.FromNamespace, r.FromType)).Distinct()
            .Where(t => t.FromType.EndsWith("Keys", StringComparison.Ordinal) && FolderOf(t.FromNamespace, t.FromType) is { } folder && folder != "Redis")
            .ToDictionary(t => t.FromType, t => FolderOf(t.FromNamespace, t.FromType)!);
        Assert.Contains("CallRecovery.Recoveries.RecoveryKeys", keyTypes.Keys);
        var trespass = ServiceReferences()
            .Where(r => keyTypes.TryGetValue(r.ToType, out var owner) && FolderOf(r.FromNamespace, r.FromType) != owner)
            .Select(r => $"{r.FromType} uses {r.ToType}").Distinct().ToList();
        Assert.Empty(trespass);
    }

    [Fact]
    public void Only_the_door_writes_a_recovery()
    {
        // The records a recovery is kept in are reached through the door (RecoveryMoves) alone; the rest of the
        // service moves recoveries by asking it.
        var users = ServiceReferences().Where(r => r.ToType == "CallRecovery.Recoveries.IRecoveryRecords").Select(r => r.FromType).Distinct().Order(StringComparer.Ordinal);
        Assert.Equal(["CallRecovery.Recoveries.RecoveriesServiceCollectionExtensions", "CallRecovery.Recoveries.RecoveryMoves", "CallRecovery.Recoveries.RedisRecoveryRecords"], users);
    }

    [Fact]
    public void Pure_policy_does_no_io()
    {
        var io = ServiceReferences()
            .Where(r => FolderOf(r.FromNamespace, r.FromType) == "Policy" && r.ToAssembly is "StackExchange.Redis" or "Confluent.Kafka" or "Grpc.Core.Api" or "Grpc.AspNetCore.Server")
            .Select(r => $"{r.FromType} uses {r.ToType}").ToList();
        Assert.Empty(io);
    }

    [Fact]
    public void The_README_layer_table_lists_exactly_the_ranked_folders()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryDirectory(), "README.md"));
        var table = readme[readme.IndexOf("| layer | folders |", StringComparison.Ordinal)..];
        table = table[..table.IndexOf("\n\n", StringComparison.Ordinal)];
        var listed = table.Split('\n').Skip(2).SelectMany(row => FolderInTable().Matches(row.Split('|')[2]).Select(m => m.Groups[1].Value)).ToList();
        Assert.Equal(Ranks.Keys.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
    }

    /// <summary>Each reference that goes up or sideways, as "Folder.Type uses OtherFolder.Type".</summary>
    private static List<string> Violations(IEnumerable<TypeReference> references)
    {
        var problems = new List<string>();
        foreach (var reference in references)
        {
            var from = FolderOf(reference.FromNamespace, reference.FromType);
            var to = FolderOf(reference.ToNamespace, reference.ToType);
            if (from is null || to is null || from == to)
            {
                continue;
            }

            var fromRank = from == Root ? RootRank : Ranks.GetValueOrDefault(from, -1);
            var toRank = to == Root ? RootRank : Ranks.GetValueOrDefault(to, int.MaxValue);
            if (toRank >= fromRank)
            {
                problems.Add($"{reference.FromType} ({from}) uses {reference.ToType} ({to})");
            }
        }

        return [.. problems.Distinct().Order(StringComparer.Ordinal)];
    }

    /// <summary>The folder of a type of ours: the namespace part after "CallRecovery."; Program (the global namespace) is the root; null for anything else.</summary>
    private static string? FolderOf(string ns, string type) =>
        ns.Length == 0 && type == "Program" ? Root
        : ns == "CallRecovery" ? Root
        : ns.StartsWith("CallRecovery.", StringComparison.Ordinal) && !ns.StartsWith("CallRecovery.Contracts", StringComparison.Ordinal) ? ns["CallRecovery.".Length..].Split('.')[0]
        : null;

    private static IReadOnlyList<TypeReference> ServiceReferences() =>
        TypeReferences.Read(typeof(CallRecovery.Policy.DropClassifier).Assembly.Location).Where(r => r.ToAssembly == "CallRecovery" || r.ToAssembly.StartsWith("StackExchange", StringComparison.Ordinal) || r.ToAssembly.StartsWith("Confluent", StringComparison.Ordinal) || r.ToAssembly.StartsWith("Grpc", StringComparison.Ordinal)).ToList();

    private static string RepositoryDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CallRecovery.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("CallRecovery.sln not found above the test binaries.");
    }

    private static string ServiceDirectory() => Path.Combine(RepositoryDirectory(), "services", "CallRecovery");

    [GeneratedRegex(@"`([A-Za-z]+)/`")]
    private static partial Regex FolderInTable();
}
