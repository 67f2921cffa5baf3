using System.Diagnostics;
using System.Globalization;

namespace CallRecovery.Benchmark;

/// <summary>What one run measures and how big it is.</summary>
public sealed record BenchmarkOptions
{
    public int Drops { get; init; } = 100_000;

    public int LongEvents { get; init; } = 1_000_000;

    public int StormDrops { get; init; } = 200_000;

    /// <summary>
    /// Drops each service run decides before a phase measures anything: a pod in production has long since compiled
    /// its hot code (tiered JIT, dynamic PGO), as the bare gRPC phase's untimed first round has too.
    /// </summary>
    public int WarmUpDrops { get; init; } = 10_000;

    /// <summary>Drops of the outage storm (one cell fails, then comes back), and the admission rate the switch declares.</summary>
    public int OutageDrops { get; init; } = 20_000;

    public uint OutageAdmissionRate { get; init; } = 1_000;

    public TimeSpan LatencyDuration { get; init; } = TimeSpan.FromSeconds(20);

    public IReadOnlyList<int> LatencyRates { get; init; } = [500, 2_000];

    public TimeSpan LatencyGracePeriod { get; init; } = TimeSpan.FromSeconds(2);

    public int SwitchInstances { get; init; } = 4;

    public uint SwitchWindow { get; init; } = 32;

    public int FetchWaitMaxMs { get; init; } = 10;

    public TimeSpan StageDelay { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Service settings that override the benchmark's (--set Section:Key=value), applied last.</summary>
    public IReadOnlyDictionary<string, string> ServiceSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>Redis's slow log records every command of the fast-switch phase (2i) and a row shows where Redis's time goes.</summary>
    public bool RedisProfile { get; init; }

    /// <summary>A backlog is produced ahead of the consumer by at most this many events, so the mock broker evicts nothing unread.</summary>
    public int MaxAhead { get; init; } = 150_000;
}

/// <summary>One row of the result table.</summary>
public sealed record Row(string Phase, string Measure, string Value, string Notes);

/// <summary>The phases, each adding rows; the bare limit and the headline numbers are kept for the summary line.</summary>
public sealed class Phases(Rig rig, BenchmarkOptions options, TextWriter log)
{
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(90);

    public List<Row> Rows { get; } = [];

    public List<string> Summary { get; } = [];

    public double? BareLimit { get; private set; }

    // The bare Kafka and Redis rates of phase 1, so a later phase can set them beside a gRPC limit measured just before it.
    private (double Kafka, double Redis)? _bareStores;

    // The fast switch's rate with durability Local (2i), for the row that runs without (2iv).
    private double? _localRate;

    // What the bare gRPC exchange costs per recovery (CPU, allocations of client and server together), phase 1c.
    private Costs? _bareCost;

    public async Task BareAsync()
    {
        log.WriteLine($"bare: Kafka consumer over {options.Drops:N0} drops...");
        var (kafka, kafkaLost) = await BareLimits.KafkaConsumerAsync(rig, options.Drops);
        Add("1a bare Kafka consumer", "messages/s", Rate(kafka), $"{options.Drops:N0} drops, {Rig.Partitions} partitions, same mock broker; not read: {kafkaLost}");
        log.WriteLine("bare: Redis decision script...");
        await rig.AppendFsyncAsync("always");
        var redis = await BareLimits.RedisScriptsAsync(rig, options.Drops);
        Add("1b bare Redis Lua", "scripts/s", Rate(redis), "SET NX + INCR/EXPIRE + HSET/EXPIRE per event, 2,000 in flight, same redis-server (appendfsync always, as the service's phases run it)");
        log.WriteLine("bare: gRPC streams...");
        // A first, untimed round warms up the JIT and the HTTP/2 connections, as the service's are warm in steady state.
        await BareLimits.GrpcStreamsAsync(Math.Min(5_000, options.Drops), options.SwitchInstances, (int)options.SwitchWindow);
        var (grpc, cost) = await BareGrpcAsync();
        _bareCost = cost;
        Add("1c bare gRPC switching", "recoveries/s", Rate(grpc), $"command, ack, outcome, report-received; {options.SwitchInstances} h2c streams, window {options.SwitchWindow}; per recovery {Micros(cost.ServiceCpuMicros)} µs CPU and {cost.ServiceAllocatedBytes / 1024:0.0} KiB allocated (client and server together)");
        var (limit, name) = new[] { (kafka, "Kafka"), (redis, "Redis"), (grpc, "gRPC") }.MinBy(c => c.Item1);
        BareLimit = limit;
        _bareStores = (kafka, redis);
        Add("1 bare pipeline limit", "events/s", Rate(limit), $"min of 1a-1c: {name} bounds the pipeline");
        Summary.Add($"bare limit {Rate(limit)}/s ({name})");
    }

    /// <summary>
    /// A backlog of drops through the service to a fast or a realistic switch; counted on the outcome topic. With two
    /// replicas, they share the consumer group and the switch's instances are spread over them: what scaling out adds.
    /// </summary>
    public async Task EndToEndAsync(SwitchKind kind, int replicas = 1, string durability = "Local")
    {
        var phase = (kind == SwitchKind.Fast ? "e2e-fast" : "e2e-realistic") + (replicas > 1 ? $"-{replicas}r" : string.Empty) + (durability != "Local" ? "-" + durability.ToLowerInvariant() : string.Empty);
        // The machine's speed drifts by minutes: the bare limit this row is set against is measured again just
        // before it (gRPC, the bound; Kafka and Redis from phase 1), so the ratio compares like with like.
        var limitNow = BareLimit;
        var limitNote = string.Empty;
        if (_bareStores is { } stores)
        {
            log.WriteLine($"{phase}: bare gRPC limit just before...");
            var (grpcNow, costNow) = await BareGrpcAsync();
            _bareCost = costNow;
            limitNow = Math.Min(grpcNow, Math.Min(stores.Kafka, stores.Redis));
            limitNote = $" measured just before ({Rate(limitNow.Value)}/s; phase 1: {Rate(BareLimit!.Value)}/s)";
        }

        log.WriteLine($"{phase}: starting the service...");
        await using var run = await ServiceRun.StartAsync(rig, phase, options, kind, new Dictionary<string, string> { ["Redis:Durability"] = durability }, replicas: replicas);
        var before = await run.ScrapeAsync();
        await using var profile = options.RedisProfile && kind == SwitchKind.Fast && replicas == 1 && durability == "Local" ? new RedisProfile(rig.RedisConnectionString) : null;
        if (profile is not null)
        {
            await profile.StartAsync();
        }

        var redisBefore = await Costs.RedisAsync(rig.RedisConnectionString);
        // The first drops and the warm-up's reached their outcomes before this phase's.
        var warmedUp = run.OutcomeArrivals.Count;
        var (serviceCpu, ownCpu, wall) = (run.CpuSeconds(), Environment.CpuUsage.TotalTime.TotalSeconds, Stopwatch.GetTimestamp());
        var callIds = Enumerable.Range(0, options.Drops).Select(i => $"{phase}-{i}").ToArray();
        log.WriteLine($"{phase}: publishing {options.Drops:N0} drops...");
        var publishing = Task.Run(() =>
        {
            foreach (var callId in callIds)
            {
                rig.Publish(run.Topics.Input, callId);
            }

            rig.Flush();
        });
        var complete = await Poll.ProgressAsync(() => run.OutcomeArrivals.Count, callIds.Length + warmedUp, Stall);
        await publishing;
        var after = await run.ScrapeAsync();
        var elapsed = Poll.Seconds(wall, Stopwatch.GetTimestamp());
        var serviceCpuUsed = run.CpuSeconds() - serviceCpu;
        var redisAfter = await Costs.RedisAsync(rig.RedisConnectionString);
        var cpu = string.Create(CultureInfo.InvariantCulture,
            $"CPU: service {(run.CpuSeconds() - serviceCpu) / elapsed:0.00} cores, benchmark process (broker, switch, reader) {(Environment.CpuUsage.TotalTime.TotalSeconds - ownCpu) / elapsed:0.00} cores");
        var arrivals = callIds.Select(c => run.OutcomeArrivals.TryGetValue(c, out var t) ? t : (long?)null).OfType<long>().Order().ToArray();
        var lost = callIds.Length - arrivals.Length;
        var (from, to) = ((int)(arrivals.Length * 0.1), (int)(arrivals.Length * 0.9) - 1);
        var rate = arrivals.Length < 10 ? 0 : (to - from) / Poll.Seconds(arrivals[from], arrivals[to]);
        var ratio = limitNow is { } limit ? $"{rate / limit * 100:0}% of the bare limit{limitNote}" : "bare limit not measured (--only)";
        var label = (kind, replicas, durability) switch
        {
            (SwitchKind.Fast, 1, "Local") => "2i service, fast switch",
            (SwitchKind.Realistic, 1, "Local") => "2ii service, realistic switch",
            (_, _, "Local") => $"2iii service, fast switch, {replicas} replicas",
            _ => $"2iv service, fast switch, Redis:Durability {durability}",
        };
        if (durability != "Local" && _localRate is { } local)
        {
            label += string.Create(CultureInfo.InvariantCulture, $" (2i, durable, runs at {local / Math.Max(1, rate) * 100:0}% of this)");
        }
        else if (kind == SwitchKind.Fast && replicas == 1)
        {
            _localRate = rate;
        }
        var costs = Costs.PerRecovery(Math.Max(1.0, arrivals.Length), serviceCpuUsed, after.Sum(AllocatedMetric) - before.Sum(AllocatedMetric), redisBefore, redisAfter) with
        {
            RoundTrips = (after.Sum(RedisOperationsMetric) - before.Sum(RedisOperationsMetric)) / Math.Max(1.0, arrivals.Length),
        };
        Add(label, "cost per recovery", costs.Describe(_bareCost),
            (_bareCost is { } bareCost ? string.Create(CultureInfo.InvariantCulture, $"bare gRPC exchange per recovery {bareCost.ServiceCpuMicros:0} µs CPU, {bareCost.ServiceAllocatedBytes / 1024:0.0} KiB (measured just before); ") : string.Empty) +
            "service: /proc CPU and dotnet.gc.heap.total_allocated over the phase" +
            string.Create(CultureInfo.InvariantCulture, $" (of its CPU, the JIT's: {(after.Sum(JitTimeMetric) - before.Sum(JitTimeMetric)) * 1e6 / Math.Max(1.0, arrivals.Length):0} µs per recovery; {run.WarmUp}; the GC's pauses {(after.Sum(GcPauseMetric) - before.Sum(GcPauseMetric)) * 1e6 / Math.Max(1.0, arrivals.Length):0} µs per recovery of wall time)") +
            "; redis-server: INFO cpu and commandstats (commands scripts run included; script calls are round trips, other commands too); round trips: the operations the service's multiplexers sent (callrecovery.redis.operations), the many-runs' and plain commands; commands per recovery: " + costs.TopCommands());
        Add(label, "recoveries/s", Rate(rate),
            $"{ratio}; middle 80% of outcome arrivals on the outcome topic; {Decided(before, after)}; outcomes missing {lost}{(complete ? "" : " (stalled)")}; evicted {rig.Evicted(run.Topics.Input)}; RSS {run.RssMiB():0} MiB; {cpu}");
        Summary.Add($"{(kind == SwitchKind.Fast ? "fast" : "realistic")} switch{(replicas > 1 ? $" x{replicas} replicas" : "")} {Rate(rate)}/s{(limitNow is { } bare ? $" ({rate / bare * 100:0}% of the bare limit just before)" : "")}");
        if (profile is not null)
        {
            var work = await profile.StopAsync();
            Add(label, "Redis time per recovery", string.Create(CultureInfo.InvariantCulture, $"{(double)work.Sum(w => w.Micros) / Math.Max(1, arrivals.Length):0} µs"),
                $"{work.Sum(w => w.Calls) / (double)Math.Max(1, arrivals.Length):0.0} commands per recovery; " + Benchmark.RedisProfile.Describe(work, arrivals.Length));
        }
    }

    /// <summary>A long backlog, produced ahead of the service by at most <see cref="BenchmarkOptions.MaxAhead"/> events: decision rate and RSS per tenth.</summary>
    public async Task LongBacklogAsync()
    {
        const string Phase = "long";
        log.WriteLine($"{Phase}: starting the service...");
        await using var run = await ServiceRun.StartAsync(rig, Phase, options, SwitchKind.Fast);
        var before = await run.ScrapeAsync();
        var baseDecisions = (long)before.Sum(DecisionsMetric);
        var total = options.LongEvents;
        long decided = 0;
        var published = 0;
        using var stop = new CancellationTokenSource();
        log.WriteLine($"{Phase}: {total:N0} drops, kept at most {options.MaxAhead:N0} ahead of the decisions...");
        var producing = Task.Run(async () =>
        {
            while (published < total && !stop.IsCancellationRequested)
            {
                if (published - Interlocked.Read(ref decided) < options.MaxAhead)
                {
                    for (var i = 0; i < 1_000 && published < total; i++)
                    {
                        rig.Publish(run.Topics.Input, $"{Phase}-{published++}");
                    }
                }
                else
                {
                    // Far enough ahead: wait for the service (pacing only; nothing is timed by it).
                    await Task.Delay(10);
                }
            }

            rig.Flush();
        });
        var crossings = new (double Seconds, double RssMiB)[11];
        var clock = Stopwatch.StartNew();
        var lastChange = clock.Elapsed;
        var (previousSeconds, previousCount, tenth) = (0.0, 0L, 1);
        while (tenth <= 10 && clock.Elapsed - lastChange < Stall)
        {
            var now = (long)(await run.ScrapeAsync()).Sum(DecisionsMetric) - baseDecisions;
            var seconds = clock.Elapsed.TotalSeconds;
            if (now != previousCount)
            {
                lastChange = clock.Elapsed;
                if (previousCount == 0)
                {
                    crossings[0] = (seconds, run.RssMiB());
                }

                // Each tenth's boundary, interpolated between two scrapes 100 ms apart.
                while (tenth <= 10 && now >= (long)total * tenth / 10)
                {
                    var boundary = (long)total * tenth / 10;
                    crossings[tenth] = (previousSeconds + ((seconds - previousSeconds) * (boundary - previousCount) / (now - previousCount)), run.RssMiB());
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Phase}: tenth {tenth} decided at {crossings[tenth].Seconds:0.0} s, RSS {crossings[tenth].RssMiB:0} MiB"));
                    tenth++;
                }
            }

            Interlocked.Exchange(ref decided, now);
            (previousSeconds, previousCount) = (seconds, now);
            await Task.Delay(100);
        }

        await stop.CancelAsync();
        await producing;
        var after = await run.ScrapeAsync();
        if (tenth <= 10)
        {
            Add("3 long backlog", "decisions", "STALLED", $"{previousCount:N0} of {total:N0} decided; {run.RecentLog()}");
            return;
        }

        var rates = Enumerable.Range(1, 10).Select(k => total / 10.0 / (crossings[k].Seconds - crossings[k - 1].Seconds)).ToArray();
        var sent = after.Sum(SentMetric) - before.Sum(SentMetric);
        Add("3 long backlog", "decisions/s per tenth", string.Join(" / ", rates.Select(Rate)),
            string.Create(CultureInfo.InvariantCulture, $"{total:N0} drops, fast switch connected; {Decided(before, after)}; failed deliveries {rig.FailedDeliveries}; commands sent meanwhile {sent:N0} ({sent / (crossings[10].Seconds - crossings[0].Seconds):0}/s)"));
        Add("3 long backlog", "RSS MiB per tenth", string.Join(" / ", crossings.Skip(1).Select(c => c.RssMiB.ToString("0", CultureInfo.InvariantCulture))), "VmRSS of the service process at the end of each tenth");
        Add("3 long backlog", "last / first tenth rate", (rates[9] / rates[0]).ToString("0.00", CultureInfo.InvariantCulture), "1.00 = no slowdown as state accumulates");
        var growth = crossings[10].RssMiB - crossings[1].RssMiB;
        Add("3 long backlog", "RSS growth after first tenth", string.Create(CultureInfo.InvariantCulture, $"{growth:+0;-0;0} MiB ({growth / crossings[1].RssMiB:+0%;-0%;0%})"), "last tenth minus first tenth");
        Summary.Add(string.Create(CultureInfo.InvariantCulture, $"long backlog last/first {rates[9] / rates[0]:0.00}, RSS {growth:+0;-0;0} MiB"));
    }

    /// <summary>Drops at fixed rates: drop-to-command beyond the grace period, at the switch, and the service's own lateness histogram.</summary>
    public async Task LatencyAsync()
    {
        const string Phase = "latency";
        log.WriteLine($"{Phase}: starting the service (grace period {options.LatencyGracePeriod.TotalSeconds:0} s)...");
        await using var run = await ServiceRun.StartAsync(rig, Phase, options, SwitchKind.Fast, new Dictionary<string, string>
        {
            ["Switching:GracePeriod"] = options.LatencyGracePeriod.ToString("c", CultureInfo.InvariantCulture),
        });
        // Issue 27's real-time target is set against the bare limit: an offered rate of a tenth of it, when phase 1 ran.
        var tenth = BareLimit is { } bare ? (int)Math.Round(bare / 10) : 0;
        var rates = tenth > 0 ? options.LatencyRates.Append(tenth).Distinct().Order().ToList() : [.. options.LatencyRates];
        foreach (var rate in rates)
        {
            var row = rate == tenth ? $"4 latency {rate}/s (0.1 x bare limit)" : $"4 latency {rate}/s";
            log.WriteLine($"{Phase}: {rate}/s for {options.LatencyDuration.TotalSeconds:0} s...");
            var before = await run.ScrapeAsync();
            var samplesBefore = run.Instances.Select(i => i.DropToCommand.Count).ToArray();
            var placedBefore = run.Placed.Count;
            var clock = Stopwatch.StartNew();
            var published = 0;
            while (clock.Elapsed < options.LatencyDuration)
            {
                var due = (int)(rate * clock.Elapsed.TotalSeconds);
                for (; published < due; published++)
                {
                    rig.Publish(run.Topics.Input, $"{Phase}-{rate}-{published}");
                }

                // Pacing only: the latencies are timestamps (drop_time at publish, arrival at the switch).
                await Task.Delay(5);
            }

            rig.Flush();
            var achieved = published / clock.Elapsed.TotalSeconds;
            var complete = await Poll.ProgressAsync(() => run.Placed.Count, placedBefore + published, Stall);
            var after = await run.ScrapeAsync();
            var beyondGrace = run.Instances.SelectMany((instance, n) => instance.DropToCommand.Skip(samplesBefore[n]))
                .Select(d => (d - options.LatencyGracePeriod).TotalMilliseconds).Order().ToArray();
            if (beyondGrace.Length == 0)
            {
                Add(row, "drop-to-command beyond grace", "NO COMMANDS", run.RecentLog());
                continue;
            }

            Add(row, "drop-to-command beyond grace p50 / p99 / max",
                string.Create(CultureInfo.InvariantCulture, $"{At(beyondGrace, 0.5):0} / {At(beyondGrace, 0.99):0} / {beyondGrace[^1]:0} ms"),
                string.Create(CultureInfo.InvariantCulture, $"at the switch from drop_time; published {achieved:0}/s for {options.LatencyDuration.TotalSeconds:0} s, grace {options.LatencyGracePeriod.TotalSeconds:0} s; commands {beyondGrace.Length:N0} of {published:N0}{(complete ? "" : " (stalled)")}"));
            Add(row, "callback lateness p50 / p99 (service metric)",
                string.Create(CultureInfo.InvariantCulture, $"<= {after.Quantile(LatenessMetric, 0.5, before) * 1000:0} / <= {after.Quantile(LatenessMetric, 0.99, before) * 1000:0} ms"),
                "callrecovery_callback_lateness_seconds: due time to first command sent, bucket upper bounds");
            Summary.Add(string.Create(CultureInfo.InvariantCulture, $"p99 beyond grace at {rate}/s {At(beyondGrace, 0.99):0} ms"));
        }
    }

    /// <summary>Drops as fast as the broker takes them: time until every command reached the switch, losses, peak RSS.</summary>
    public async Task StormAsync()
    {
        const string Phase = "storm";
        log.WriteLine($"{Phase}: starting the service...");
        await using var run = await ServiceRun.StartAsync(rig, Phase, options, SwitchKind.Fast);
        var callIds = Enumerable.Range(0, options.StormDrops).Select(i => $"{Phase}-{i}").ToArray();
        var peakRss = run.RssMiB();
        var decidedBefore = (await run.ScrapeAsync()).Sum(DecisionsMetric);
        var allDecided = 0L;
        using var stop = new CancellationTokenSource();
        var placedBefore = run.Placed.Count;
        log.WriteLine($"{Phase}: {callIds.Length:N0} drops as fast as the broker takes them...");
        var start = Stopwatch.GetTimestamp();
        var sampling = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peakRss = Math.Max(peakRss, run.RssMiB());
                if (allDecided == 0 && (await run.ScrapeAsync()).Sum(DecisionsMetric) - decidedBefore >= callIds.Length)
                {
                    allDecided = Stopwatch.GetTimestamp();
                }

                await Task.Delay(100);
            }
        });
        var published = Task.Run(() =>
        {
            foreach (var callId in callIds)
            {
                rig.Publish(run.Topics.Input, callId);
            }

            rig.Flush();
            return Stopwatch.GetTimestamp();
        });
        var complete = await Poll.ProgressAsync(() => run.Placed.Count, placedBefore + callIds.Length, Stall);
        var end = Stopwatch.GetTimestamp();
        var publishedAt = await published;
        await stop.CancelAsync();
        await sampling;
        var received = run.Placed.Values.Select(c => c.CallId).ToHashSet(StringComparer.Ordinal);
        var lost = callIds.Count(c => !received.Contains(c));
        Add("5 storm", "time until every command is out", string.Create(CultureInfo.InvariantCulture, $"{Poll.Seconds(start, end):0.0} s{(complete ? "" : " (stalled)")}"),
            string.Create(CultureInfo.InvariantCulture, $"{callIds.Length:N0} drops published in {Poll.Seconds(start, publishedAt):0.0} s, all decided after {(allDecided == 0 ? double.NaN : Poll.Seconds(start, allDecided)):0.0} s; {callIds.Length / Poll.Seconds(start, end):0}/s overall; evicted {rig.Evicted(run.Topics.Input)}"));
        Add("5 storm", "lost (recovery never reached the switch)", lost.ToString(CultureInfo.InvariantCulture), "must be 0");
        Add("5 storm", "peak service RSS", string.Create(CultureInfo.InvariantCulture, $"{peakRss:0} MiB"), "VmRSS sampled every 100 ms");
        Summary.Add(string.Create(CultureInfo.InvariantCulture, $"storm {callIds.Length:N0} out in {Poll.Seconds(start, end):0.0} s, lost {lost}, peak RSS {peakRss:0} MiB"));
    }

    /// <summary>
    /// The storm guard under a storm: one cell's drops as fast as the broker takes them (an outage), then the cell
    /// back in service. Shows that nothing goes while the incident is open, and that the release never exceeds the
    /// admission rate the switch declared, however large the backlog.
    /// </summary>
    public async Task OutageStormAsync()
    {
        const string Phase = "outage";
        const string Cell = "bench-cell-outage";
        var rate = options.OutageAdmissionRate;
        log.WriteLine($"{Phase}: starting the service (outage guard on, switch declares {rate}/s)...");
        await using var run = await ServiceRun.StartAsync(rig, Phase, options, SwitchKind.Fast, new Dictionary<string, string>
        {
            ["Outage:Enabled"] = "true",
            ["Outage:CellThreshold"] = "20",
            ["Outage:Window"] = "00:01:00",
            // Only the cell's incident: the benchmark's drops all come from one node.
            ["Outage:NodeThreshold"] = "10000000",
            // Drops decided before the threshold are still queued when the incident is declared, and are held too.
            ["Switching:GracePeriod"] = "00:00:05",
            ["QuietHours:Enabled"] = "false",
        }, admissionRate: rate);
        var callIds = Enumerable.Range(0, options.OutageDrops).Select(i => $"{Phase}-{i}").ToArray();
        var placedBefore = run.Placed.Count;
        var heldBefore = (await run.ScrapeAsync()).Sum(HeldMetric);
        log.WriteLine($"{Phase}: {callIds.Length:N0} drops from one cell as fast as the broker takes them...");
        var start = Stopwatch.GetTimestamp();
        foreach (var callId in callIds)
        {
            rig.Publish(run.Topics.Input, callId, Cell);
        }

        rig.Flush();
        var allHeld = await Poll.ProgressAsync(async () => (long)((await run.ScrapeAsync()).Sum(HeldMetric) - heldBefore), callIds.Length, Stall);
        var heldAt = Stopwatch.GetTimestamp();
        var sentWhileHeld = run.Placed.Count - placedBefore;
        log.WriteLine($"{Phase}: the cell is back in service...");
        rig.PublishEvent(run.Topics.Input, Cell, new Contracts.V1.NetworkEvent
        {
            CellInService = new Contracts.V1.CellInService { EventId = "bench-cell-back", ServingCell = Cell, At = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) },
        });
        rig.Flush();
        var released = Stopwatch.GetTimestamp();
        var complete = await Poll.ProgressAsync(() => run.Placed.Count, placedBefore + callIds.Length, Stall);
        var end = Stopwatch.GetTimestamp();
        var mine = callIds.ToHashSet(StringComparer.Ordinal);
        var times = run.Instances.SelectMany(i => i.Placements).Where(p => run.Placed.TryGetValue(p.RecoveryId, out var c) && mine.Contains(c.CallId)).Select(p => p.At).Order().ToList();
        var busiest = 0;
        for (int first = 0, last = 0; last < times.Count; last++)
        {
            while (times[last] - times[first] >= TimeSpan.FromSeconds(1))
            {
                first++;
            }

            busiest = Math.Max(busiest, last - first + 1);
        }

        var lost = callIds.Length - times.Count;
        Add("6 outage storm", "held while the cell was down", string.Create(CultureInfo.InvariantCulture, $"{callIds.Length:N0} of {callIds.Length:N0}{(allHeld ? "" : " (stalled)")}, {sentWhileHeld} sent"),
            string.Create(CultureInfo.InvariantCulture, $"one cell's drops published and held in {Poll.Seconds(start, heldAt):0.0} s; one incident (threshold 20 in the window)"));
        Add("6 outage storm", "release after the cell came back", string.Create(CultureInfo.InvariantCulture, $"busiest second {busiest:N0} commands, declared {rate:N0}/s"),
            string.Create(CultureInfo.InvariantCulture, $"all out {Poll.Seconds(released, end):0.0} s after the cell-in-service event ({callIds.Length / Poll.Seconds(released, end):0}/s){(complete ? "" : " (stalled)")}; arrival times at the switch; lost {lost}"));
        Summary.Add(string.Create(CultureInfo.InvariantCulture, $"outage storm {callIds.Length:N0} held, released at <= {busiest:N0}/s against {rate:N0}/s declared, lost {lost}"));
    }

    private const string AllocatedMetric = "dotnet_gc_heap_total_allocated_bytes_total";

    private const string JitTimeMetric = "dotnet_jit_compilation_time_seconds_total";
    private const string GcPauseMetric = "dotnet_gc_pause_time_seconds_total";
    private const string RedisOperationsMetric = "callrecovery_redis_operations_total";
    private const string HeldMetric = "callrecovery_recoveries_held_total";
    private const string DecisionsMetric = "callrecovery_decisions_total";
    private const string ConsumedMetric = "callrecovery_events_consumed_total";
    private const string SentMetric = "callrecovery_callbacks_sent_total";
    private const string LatenessMetric = "callrecovery_callback_lateness_seconds_bucket";

    private void Add(string phase, string measure, string value, string notes)
    {
        Rows.Add(new Row(phase, measure, value, notes));
        log.WriteLine($"  {phase}: {measure} = {value} ({notes})");
    }

    private static string Decided(Metrics before, Metrics after) => string.Create(CultureInfo.InvariantCulture,
        $"service metrics: {after.Sum(ConsumedMetric) - before.Sum(ConsumedMetric):N0} consumed, {after.Sum(DecisionsMetric) - before.Sum(DecisionsMetric):N0} decided");

    /// <summary>The bare gRPC exchange (phase 1c) timed, with its CPU and allocations per recovery (client and server are this process).</summary>
    private async Task<(double Rate, Costs Cost)> BareGrpcAsync()
    {
        var (cpu, allocated) = (Environment.CpuUsage.TotalTime.TotalSeconds, GC.GetTotalAllocatedBytes());
        var rate = await BareLimits.GrpcStreamsAsync(options.Drops, options.SwitchInstances, (int)options.SwitchWindow);
        var count = (double)options.Drops;
        return (rate, new Costs((Environment.CpuUsage.TotalTime.TotalSeconds - cpu) * 1e6 / count, (GC.GetTotalAllocatedBytes() - allocated) / count, 0));
    }

    private static string Micros(double micros) => micros.ToString("0", CultureInfo.InvariantCulture);

    private static string Rate(double perSecond) => perSecond.ToString("N0", CultureInfo.InvariantCulture);

    private static double At(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
}
