using System.Globalization;
using StackExchange.Redis;

namespace CallRecovery.Benchmark;

/// <summary>redis-server's CPU seconds and calls per command at one moment.</summary>
public sealed record RedisCounters(double CpuSeconds, IReadOnlyDictionary<string, long> Calls);

/// <summary>
/// What one recovery costs, from counters read before and after a phase: the service's CPU and allocations, and
/// redis-server's CPU and commands (<c>INFO cpu</c>, <c>INFO commandstats</c>: every command, those a script runs
/// included; the benchmark's own INFO/CONFIG/SLOWLOG calls are left out).
/// </summary>
public sealed record Costs(double ServiceCpuMicros, double ServiceAllocatedBytes, double RedisCpuMicros)
{
    /// <summary>Commands a client never sends for the service (the benchmark's and the multiplexer's own).</summary>
    private static readonly HashSet<string> Admin = new(StringComparer.OrdinalIgnoreCase) { "info", "config", "slowlog", "ping", "client", "cluster", "echo", "subscribe", "hello", "command" };

    private static readonly HashSet<string> Scripts = new(StringComparer.OrdinalIgnoreCase) { "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro" };

    /// <summary>redis-server's CPU seconds (user + system) and calls of each command so far (the benchmark's own left out).</summary>
    public static async Task<RedisCounters> RedisAsync(string connectionString)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true");
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var cpu = (await server.InfoAsync("cpu")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var seconds = double.Parse(cpu["used_cpu_user"], CultureInfo.InvariantCulture) + double.Parse(cpu["used_cpu_sys"], CultureInfo.InvariantCulture);
        var calls = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in (await server.InfoAsync("commandstats")).SelectMany(g => g))
        {
            // cmdstat_<name>[|<subcommand>]:calls=N,usec=...
            var name = key["cmdstat_".Length..].Split('|')[0];
            if (!Admin.Contains(name))
            {
                calls[name] = calls.GetValueOrDefault(name) + long.Parse(value.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture);
            }
        }

        return new RedisCounters(seconds, calls);
    }

    /// <summary>The phase's costs per recovery from counters read before and after it.</summary>
    public static Costs PerRecovery(double recoveries, double serviceCpuSeconds, double allocatedBytes, RedisCounters before, RedisCounters after)
    {
        var commands = after.Calls.ToDictionary(c => c.Key, c => (c.Value - before.Calls.GetValueOrDefault(c.Key)) / recoveries, StringComparer.OrdinalIgnoreCase);
        return new Costs(serviceCpuSeconds * 1e6 / recoveries, allocatedBytes / recoveries, (after.CpuSeconds - before.CpuSeconds) * 1e6 / recoveries)
        {
            Commands = commands,
        };
    }

    /// <summary>Redis commands per recovery by name (a script's own commands under theirs).</summary>
    public IReadOnlyDictionary<string, double> Commands { get; init; } = new Dictionary<string, double>();

    /// <summary>Redis commands per recovery, those scripts run included.</summary>
    public double RedisCommands => Commands.Values.Sum();

    /// <summary>Operations the service sent per recovery (its <c>callrecovery.redis.operations</c>): each a round trip's worth of Redis's work, a script's own commands and a many-run's calls riding in one; null when not measured.</summary>
    public double? RoundTrips { get; init; }

    /// <summary>Script calls per recovery: round trips (the other commands are round trips too, or ride in a script).</summary>
    public double ScriptCalls => Commands.Where(c => Scripts.Contains(c.Key)).Sum(c => c.Value);

    /// <summary>The commands a recovery costs most of, per recovery.</summary>
    public string TopCommands(int count = 10) => string.Join(", ", Commands.Where(c => c.Value >= 0.05).OrderByDescending(c => c.Value).Take(count)
        .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value:0.0}")));

    /// <summary>The row's value: each cost per recovery, and as a multiple of the bare gRPC exchange's where it has one.</summary>
    public string Describe(Costs? bare)
    {
        string Times(double mine, double? theirs) => theirs is > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({mine / theirs.Value:0.0}x bare)") : string.Empty;
        return string.Create(CultureInfo.InvariantCulture,
            $"service CPU {ServiceCpuMicros:0} µs{Times(ServiceCpuMicros, bare?.ServiceCpuMicros)}, redis-server CPU {RedisCpuMicros:0} µs{Times(RedisCpuMicros, bare?.ServiceCpuMicros)}, ") +
            string.Create(CultureInfo.InvariantCulture,
            $"Redis commands {RedisCommands:0.0} (script calls {ScriptCalls:0.0}{(RoundTrips is { } trips ? $"; round trips {trips:0.0}" : "")}), allocated {ServiceAllocatedBytes / 1024:0.0} KiB{Times(ServiceAllocatedBytes, bare?.ServiceAllocatedBytes)}");
    }
}
