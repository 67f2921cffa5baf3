using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using CallRecovery.Contracts.V1;
using CallRecovery.FaultMatrix;
using CallRecovery.SwitchEmulator;
using Confluent.Kafka;

namespace CallRecovery.Benchmark;

/// <summary>How the emulated switch answers.</summary>
public enum SwitchKind
{
    /// <summary>Acknowledges and reports the outcome at once: no progress stages, no delay.</summary>
    Fast,

    /// <summary>Five progress stages and the outcome (reconnected), <see cref="BenchmarkOptions.StageDelay"/> apart.</summary>
    Realistic,
}

/// <summary>
/// One service process for one phase (its own topics, group and key prefix), a switch of a few emulated
/// instances sharing one act-once registry, and a reader of the outcome topic.
/// </summary>
public sealed class ServiceRun : IAsyncDisposable
{
    private readonly ServiceReplica[] _replicas;
    private readonly EmulatedSwitch[] _instances;
    private readonly CancellationTokenSource _stop = new();
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, long> _outcomeArrivals = new(StringComparer.Ordinal);
    private readonly string _bootstrapServers;
    private readonly string _outcomeTopic;
    private Task[] _runs = [];
    private Task _outcomeReader = Task.CompletedTask;

    private ServiceRun(Rig rig, string phase, PhaseTopics topics, BenchmarkOptions options, SwitchKind kind, IReadOnlyDictionary<string, string> overrides, int replicas, uint admissionRate)
    {
        Topics = topics;
        _bootstrapServers = rig.Kafka.BootstrapServers;
        _outcomeTopic = topics.Outcomes;
        var settings = new Dictionary<string, string>
        {
            ["Kafka:BootstrapServers"] = rig.Kafka.BootstrapServers,
            ["Kafka:GroupId"] = $"bench.{phase}",
            ["Kafka:InputTopics:0"] = topics.Input,
            ["Kafka:DeadLetterTopic"] = topics.DeadLetter,
            ["Kafka:OutcomeTopic"] = topics.Outcomes,
            ["Kafka:CompensationTopic"] = topics.Compensations,
            // The mock broker answers an empty fetch only after fetch.wait.max.ms (500 ms by default).
            ["Kafka:Consumer:fetch.wait.max.ms"] = options.FetchWaitMaxMs.ToString(CultureInfo.InvariantCulture),
            ["Redis:ConnectionString"] = rig.RedisConnectionString,
            ["Redis:KeyPrefix"] = $"bench-{phase}",
            // What operators run (README "Durability"): nothing confirmed before Redis fsynced it. The 2iv row runs None.
            ["Redis:Durability"] = "Local",
            // Every drop has its own subscribers; no cool-off, so nothing but the pipeline limits the rate.
            ["Policy:CoolOff"] = "00:00:00",
            ["Policy:MaxRecoveriesPerWindow"] = "1000",
            ["Switching:DefaultSwitch"] = SwitchId,
            // The outage guard on, as operators run it (default thresholds): drops come from many cells and nodes (Rig.Publish).
            // One callback per recovery: the fast switch answers busy, which would otherwise be tried again.
            ["Retries:MaxCallbackAttempts"] = "1",
            ["Switching:GracePeriod"] = "00:00:00",
            // A long backlog must not go stale while it waits (the default deadline is 5 min after the drop).
            ["Switching:CallbackDeadline"] = "01:00:00",
        };
        foreach (var (key, value) in overrides.Concat(options.ServiceSettings))
        {
            settings[key] = value;
        }

        Durability = settings["Redis:Durability"];

        // Replicas share the consumer group (the input topic's partitions are split between them) and the Redis prefix.
        _replicas = [.. Enumerable.Range(1, replicas).Select(n => new ServiceReplica(replicas == 1 ? phase : $"{phase}-{n}", settings))];
        var placements = new ConcurrentDictionary<string, CallbackCommand>(StringComparer.Ordinal);
        Placed = placements;
        _instances = [.. Enumerable.Range(1, options.SwitchInstances).Select(i => new EmulatedSwitch(new SwitchEmulatorOptions
        {
            // Instances are spread over the replicas, as a switch pool behind a load balancer would be.
            ServiceAddress = new Uri($"http://127.0.0.1:{_replicas[(i - 1) % replicas].SwitchingPort}"),
            SwitchId = SwitchId,
            InstanceId = $"bench-{i}",
            MaxUnacknowledged = options.SwitchWindow,
            OutcomeMix = kind == SwitchKind.Fast ? new Dictionary<Outcome, double> { [Outcome.Busy] = 1 } : new Dictionary<Outcome, double> { [Outcome.Reconnected] = 1 },
            StageDelay = kind == SwitchKind.Fast ? TimeSpan.Zero : options.StageDelay,
            ReconnectDelay = TimeSpan.FromMilliseconds(200),
            SharedPlacements = placements,
            MaxCommandsPerSecond = admissionRate,
            Seed = i,
        }))];
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    }

    public const string SwitchId = "bench-switch";

    /// <summary>The service's Redis:Durability in this run.</summary>
    public string Durability { get; }

    public PhaseTopics Topics { get; }

    /// <summary>Recovery id to the command the switch acted on (once per recovery, across its instances).</summary>
    public IReadOnlyDictionary<string, CallbackCommand> Placed { get; }

    public IReadOnlyList<EmulatedSwitch> Instances => _instances;

    /// <summary>Final outcomes read from the outcome topic: call id to the <see cref="Stopwatch"/> timestamp it arrived.</summary>
    public IReadOnlyDictionary<string, long> OutcomeArrivals => _outcomeArrivals;

    /// <summary>Starts the service on its (empty) topic, waits until it is ready, every switch instance is connected and a few warm-up drops went all the way (group joined).</summary>
    public static async Task<ServiceRun> StartAsync(Rig rig, string phase, BenchmarkOptions options, SwitchKind kind, IReadOnlyDictionary<string, string>? overrides = null, int replicas = 1, uint admissionRate = 0)
    {
        var run = new ServiceRun(rig, phase, rig.CreateTopics(phase), options, kind, overrides ?? new Dictionary<string, string>(), replicas, admissionRate);
        // Local durability needs every write fsynced before it is answered (Redis 7.0: no WAITAOF); None is measured
        // against the fsync-every-second Redis it is usually run with.
        await rig.AppendFsyncAsync(run.Durability == "None" ? "everysec" : "always");
        foreach (var replica in run._replicas)
        {
            replica.Start();
        }

        await Task.WhenAll(run._replicas.Select(r => r.WaitReadyAsync()));
        run._runs = [.. run._instances.Select(i => i.RunAsync(run._stop.Token))];
        run._outcomeReader = Task.Factory.StartNew(run.ReadOutcomes, TaskCreationOptions.LongRunning);
        await Poll.UntilAsync(() => run._instances.All(i => i.IsConnected), TimeSpan.FromSeconds(30), "switch instances connected");
        var joined = Enumerable.Range(0, 20).Select(i => rig.Publish(run.Topics.Input, $"{phase}-join-{i}")).ToList();
        rig.Flush();
        await Poll.UntilAsync(() => joined.All(run._outcomeArrivals.ContainsKey), TimeSpan.FromSeconds(90), "first drops reached their outcomes (group joined)");
        // Then backlogs, untimed, so the phase measures a warm service, not the JIT's warm-up: at least WarmUpDrops,
        // and on until a lot of drops has the JIT compile at most a few methods (tiered compilation settles late on two
        // busy cores), or six times as many.
        var (warmed, lot, compiled) = (0, 2_000, (await run.ScrapeAsync()).Sum(JitMethodsMetric));
        while (true)
        {
            var warmUp = Enumerable.Range(warmed, lot).Select(i => rig.Publish(run.Topics.Input, $"{phase}-warm-{i}")).ToList();
            rig.Flush();
            await Poll.UntilAsync(() => warmUp.All(run._outcomeArrivals.ContainsKey), TimeSpan.FromSeconds(300), "warm-up drops reached their outcomes");
            warmed += lot;
            var compiledNow = (await run.ScrapeAsync()).Sum(JitMethodsMetric);
            (var lastLot, compiled) = (compiledNow - compiled, compiledNow);
            if ((warmed >= options.WarmUpDrops && lastLot <= SettledJitMethods) || warmed >= 6 * Math.Max(lot, options.WarmUpDrops))
            {
                run.WarmUp = string.Create(CultureInfo.InvariantCulture, $"warmed up by {warmed:N0} drops (the JIT compiled {lastLot:N0} methods in the last {lot:N0})");
                return run;
            }
        }
    }

    /// <summary>Methods the JIT compiled (the runtime's meter), and how few in a lot of warm-up drops count as settled.</summary>
    public const string JitMethodsMetric = "dotnet_jit_compiled_methods_total";

    private const int SettledJitMethods = 100;

    /// <summary>How the service was warmed up before the phase measured.</summary>
    public string WarmUp { get; private set; } = string.Empty;

    /// <summary>The service's Prometheus metrics, summed over label sets and replicas (histogram buckets kept per bound).</summary>
    public async Task<Metrics> ScrapeAsync()
    {
        var texts = await Task.WhenAll(_replicas.Select(r => _http.GetStringAsync(new Uri($"http://127.0.0.1:{r.HttpPort}/metrics"))));
        return Metrics.Parse(string.Join('\n', texts));
    }

    /// <summary>The service processes' resident sets (VmRSS) added up, in MiB, or NaN if unreadable.</summary>
    public double RssMiB() => _replicas.Sum(RssMiB);

    /// <summary>CPU time (user + system) the service processes used so far, added up.</summary>
    public double CpuSeconds() => _replicas.Sum(CpuSeconds);

    private static double RssMiB(ServiceReplica replica)
    {
        if (replica.ProcessId is not { } pid)
        {
            return double.NaN;
        }

        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>CPU time (user + system) one service process used so far, from /proc/&lt;pid&gt;/stat (clock ticks of 1/100 s).</summary>
    private static double CpuSeconds(ServiceReplica replica)
    {
        if (replica.ProcessId is not { } pid)
        {
            return double.NaN;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the command name.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    public string RecentLog() => string.Join('\n', _replicas.SelectMany(r => r.Log.TakeLast(20)));

    private void ReadOutcomes()
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = _bootstrapServers,
            GroupId = "bench.outcomes",
            EnableAutoCommit = false,
            FetchWaitMaxMs = 10,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(Enumerable.Range(0, 6).Select(p => new TopicPartitionOffset(_outcomeTopic, p, Offset.Beginning)));
        while (!_stop.IsCancellationRequested)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message.Value: { } value })
            {
                var update = RecoveryUpdate.Parser.ParseFrom(value);
                if (update.ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome)
                {
                    _outcomeArrivals.TryAdd(update.CallId, Stopwatch.GetTimestamp());
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_runs.Append(_outcomeReader)).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var instance in _instances)
        {
            await instance.DisposeAsync();
        }

        foreach (var replica in _replicas)
        {
            replica.Kill();
        }

        _http.Dispose();
        _stop.Dispose();
    }
}

/// <summary>A Prometheus text exposition, summed per metric name; histogram buckets per upper bound.</summary>
public sealed class Metrics
{
    private readonly Dictionary<string, double> _sums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedDictionary<double, double>> _buckets = new(StringComparer.Ordinal);

    public static Metrics Parse(string text)
    {
        var metrics = new Metrics();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var nameEnd = line.IndexOfAny(['{', ' ']);
            var valueStart = line.LastIndexOf('}') is var brace and >= 0 ? brace + 1 : nameEnd;
            var fields = line[valueStart..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (nameEnd <= 0 || fields.Length == 0 || !double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            var name = line[..nameEnd];
            metrics._sums[name] = metrics._sums.GetValueOrDefault(name) + value;
            var le = line.IndexOf("le=\"", StringComparison.Ordinal);
            if (name.EndsWith("_bucket", StringComparison.Ordinal) && le >= 0)
            {
                var bound = line[(le + 4)..line.IndexOf('"', le + 4)];
                var upper = bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture);
                var buckets = metrics._buckets.TryGetValue(name, out var b) ? b : metrics._buckets[name] = [];
                buckets[upper] = buckets.GetValueOrDefault(upper) + value;
            }
        }

        return metrics;
    }

    public double Sum(string name) => _sums.GetValueOrDefault(name);

    /// <summary>The upper bound of the bucket holding quantile <paramref name="q"/> of the observations made between <paramref name="before"/> and this scrape.</summary>
    public double Quantile(string bucketName, double q, Metrics before)
    {
        if (!_buckets.TryGetValue(bucketName, out var now))
        {
            return double.NaN;
        }

        var earlier = before._buckets.GetValueOrDefault(bucketName);
        var deltas = now.Select(b => (Bound: b.Key, Count: b.Value - (earlier?.GetValueOrDefault(b.Key) ?? 0))).ToList();
        var total = deltas.Count == 0 ? 0 : deltas[^1].Count;
        if (total <= 0)
        {
            return double.NaN;
        }

        return deltas.First(d => d.Count >= q * total).Bound;
    }
}

/// <summary>Bounded waits on a condition: no measurement rests on a fixed sleep.</summary>
public static class Poll
{
    /// <summary>Polls every 20 ms; throws naming <paramref name="what"/> when <paramref name="timeout"/> passes first.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for: {what}.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Polls every 20 ms until <paramref name="progress"/> reaches <paramref name="target"/>; false when it stood still for <paramref name="stall"/>.</summary>
    public static Task<bool> ProgressAsync(Func<long> progress, long target, TimeSpan stall) =>
        ProgressAsync(() => Task.FromResult(progress()), target, stall, TimeSpan.FromMilliseconds(20));

    /// <summary>As above, for progress read remotely (a metrics scrape), every <paramref name="every"/> (200 ms by default).</summary>
    public static async Task<bool> ProgressAsync(Func<Task<long>> progress, long target, TimeSpan stall, TimeSpan? every = null)
    {
        var last = long.MinValue;
        var still = Stopwatch.StartNew();
        while (true)
        {
            var now = await progress();
            if (now >= target)
            {
                return true;
            }

            if (now != last)
            {
                last = now;
                still.Restart();
            }
            else if (still.Elapsed > stall)
            {
                return false;
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(200));
        }
    }

    public static double Seconds(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalSeconds;
}
