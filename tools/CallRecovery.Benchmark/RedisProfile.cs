using System.Globalization;
using System.Reflection;
using StackExchange.Redis;

namespace CallRecovery.Benchmark;

/// <summary>
/// Where redis-server's time goes during a phase: every command is logged by Redis's slow log (threshold 0), then
/// grouped by command, and for EVALSHA by the service script its SHA-1 names. Durations are Redis's own per
/// command; on a saturated machine they include the time Redis was descheduled, so compare shares, not microseconds.
/// </summary>
public sealed class RedisProfile(string connectionString) : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _redis = ConnectionMultiplexer.Connect(connectionString + ",allowAdmin=true,asyncTimeout=300000,syncTimeout=300000");

    public async Task StartAsync()
    {
        var server = _redis.GetServers().Single();
        await server.ConfigSetAsync("slowlog-max-len", "2000000");
        await server.ConfigSetAsync("slowlog-log-slower-than", "0");
        await server.ExecuteAsync("SLOWLOG", "RESET");
    }

    /// <summary>(what, calls, total µs), the heaviest first; the slow log is switched off again.</summary>
    public async Task<IReadOnlyList<(string What, long Calls, long Micros)>> StopAsync()
    {
        var server = _redis.GetServers().Single();
        await server.ConfigSetAsync("slowlog-log-slower-than", "10000");
        var entries = (RedisResult[])(await server.ExecuteAsync("SLOWLOG", "GET", "-1"))!;
        var names = ScriptNames();
        var totals = new Dictionary<string, (long Calls, long Micros)>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var fields = (RedisResult[])entry!;
            var micros = (long)fields[2];
            var command = ((RedisResult[])fields[3]!).Select(a => a.ToString()).ToArray();
            var what = command[0].ToUpperInvariant() switch
            {
                "EVALSHA" when command.Length > 1 => "script " + (names.TryGetValue(command[1], out var name) ? name : command[1][..8]),
                var other => other,
            };
            var (calls, total) = totals.GetValueOrDefault(what);
            totals[what] = (calls + 1, total + micros);
        }

        await server.ExecuteAsync("SLOWLOG", "RESET");
        return [.. totals.Select(t => (t.Key, t.Value.Calls, t.Value.Micros)).OrderByDescending(t => t.Micros)];
    }

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    /// <summary>SHA-1 of each of the service's scripts (the static RedisScript fields of the classes that own them) -> its field name.</summary>
    private static Dictionary<string, string> ScriptNames()
    {
        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in typeof(CallRecovery.Redis.RedisKeys).Assembly.GetTypes())
        {
            foreach (var field in type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic).Where(f => f.FieldType == typeof(CallRecovery.Redis.RedisScript) && !type.ContainsGenericParameters))
            {
                if (field.GetValue(null) is CallRecovery.Redis.RedisScript script)
                {
                    names[Convert.ToHexStringLower(script.Hash)] = field.Name;
                    if (script.Many is { } many)
                    {
                        names[Convert.ToHexStringLower(many.Hash)] = field.Name + "(many)";
                    }
                }
            }
        }

        return names;
    }

    public static string Describe(IReadOnlyList<(string What, long Calls, long Micros)> profile, long recoveries)
    {
        var all = Math.Max(1, profile.Sum(p => p.Micros));
        return string.Join("; ", profile.Take(14).Select(p => string.Create(CultureInfo.InvariantCulture,
            $"{p.What} {(double)p.Calls / Math.Max(1, recoveries):0.##}/rec {(double)p.Micros / Math.Max(1, p.Calls):0.0} µs {100.0 * p.Micros / all:0}%")));
    }
}
