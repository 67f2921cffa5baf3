// The performance benchmark, one machine, one run (tools/CallRecovery.Benchmark/README.md explains every row):
//
//   dotnet build tools/CallRecovery.Benchmark -c Release
//   dotnet tools/CallRecovery.Benchmark/bin/Release/net10.0/CallRecovery.Benchmark.dll --quick --output bench.md
//
// --quick       a few-minute run (10,000 drops, a 50,000-event long backlog, a 20,000-drop storm, 10 s per latency rate)
// --only <p,q>  these phases, in this order: bare, e2e, long, latency, storm, outage; or cost (bare, then the fast switch's e2e row)
// --latency-rates <r ...>  the latency phase's offered rates (drops/s; a tenth of the bare limit is added after bare or cost)
// --output <f>  also writes the Markdown table to this file
// --set K=V     a service setting for every phase (repeatable), e.g. --set Switching:PollInterval=00:00:00.020
// Phases: 1 the bare limit of the components (Kafka consumer, Redis Lua, gRPC stream), 2 the service end to end
// (fast and realistic switch), 3 the decision rate and RSS per tenth of a long backlog, 4 drop-to-command latency
// at fixed rates, 5 a storm. It starts librdkafka's mock Kafka (in process), redis-server and the service (its own
// process) on loopback, and kills everything it started when it exits.
using System.CommandLine;
using System.Globalization;
using CallRecovery.Benchmark;

var quick = new Option<bool>("--quick") { Description = "A few-minute run: smaller backlogs and shorter latency phases." };
var only = new Option<string?>("--only") { Description = "Run only these phases, comma-separated, in this order: bare, e2e, long, latency, storm, outage, or cost (bare, then the fast switch's end-to-end row); e.g. bare,latency for the 0.1 x bare latency row." };
var output = new Option<FileInfo?>("--output") { Description = "Also write the Markdown table to this file." };
var drops = new Option<int?>("--drops") { Description = "Backlog of the bare limit and end-to-end phases (default 100,000; quick 10,000)." };
var longEvents = new Option<int?>("--long-events") { Description = "Events of the long backlog (default 1,000,000; quick 50,000)." };
var stormDrops = new Option<int?>("--storm-drops") { Description = "Drops of the storm (default 200,000; quick 20,000)." };
var instances = new Option<int>("--switch-instances") { Description = "Emulated switch instances (streams), also the bare gRPC streams.", DefaultValueFactory = _ => 4 };
var window = new Option<uint>("--switch-window") { Description = "Unacknowledged commands each instance asks for (the service's default cap is 32).", DefaultValueFactory = _ => 32 };
var warmUp = new Option<int?>("--warm-up") { Description = "Drops each service run decides at least before its phase measures, more until the JIT has settled (default 10,000; quick 5,000): the JIT's warm-up is not what a long-running pod costs." };
var redisProfile = new Option<bool>("--redis-profile") { Description = "Log every Redis command of the fast-switch phase (slow log, threshold 0) and show where Redis's time goes." };
var latencyRates = new Option<int[]>("--latency-rates") { Description = "Offered rates of the latency phase, drops/s (default 500 and 2,000; a tenth of the bare limit is added when the bare phase ran).", AllowMultipleArgumentsPerToken = true };
var set = new Option<string[]>("--set") { Description = "A service setting for every phase, Section:Key=value (repeatable), e.g. --set Switching:PollInterval=00:00:00.020." };
var root = new RootCommand("CallRecovery performance benchmark: bare component limits, then the service end to end, a long backlog, latency and a storm.")
{
    quick, only, output, drops, longEvents, stormDrops, warmUp, instances, window, latencyRates, set, redisProfile,
};
root.SetAction(async (parse, cancellationToken) =>
{
    var isQuick = parse.GetValue(quick);
    var options = new BenchmarkOptions
    {
        Drops = parse.GetValue(drops) ?? (isQuick ? 10_000 : 100_000),
        LongEvents = parse.GetValue(longEvents) ?? (isQuick ? 50_000 : 1_000_000),
        StormDrops = parse.GetValue(stormDrops) ?? (isQuick ? 20_000 : 200_000),
        OutageDrops = isQuick ? 5_000 : 20_000,
        WarmUpDrops = parse.GetValue(warmUp) ?? (isQuick ? 5_000 : 10_000),
        LatencyDuration = TimeSpan.FromSeconds(isQuick ? 10 : 20),
        LatencyRates = parse.GetValue(latencyRates) is { Length: > 0 } rates ? rates : [500, 2_000],
        SwitchInstances = parse.GetValue(instances),
        SwitchWindow = parse.GetValue(window),
        RedisProfile = parse.GetValue(redisProfile),
        ServiceSettings = (parse.GetValue(set) ?? []).Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal),
    };
    string[] phases = ["bare", "e2e", "long", "latency", "storm", "outage"];
    string[] extra = ["cost"];
    var selected = parse.GetValue(only) is { } chosen ? [.. chosen.ToLowerInvariant().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct()] : phases;
    if (selected.Except(phases).Except(extra).FirstOrDefault() is { } unknown)
    {
        Console.Error.WriteLine($"Unknown phase '{unknown}'; one of: {string.Join(", ", phases.Concat(extra))}.");
        return 2;
    }

    using var rig = await Rig.StartAsync();
    var run = new Phases(rig, options, Console.Out);
    var started = DateTime.UtcNow;
    foreach (var phase in selected)
    {
        var task = phase switch
        {
            "bare" => run.BareAsync(),
            "e2e" => RunBoth(run),
            "long" => run.LongBacklogAsync(),
            "latency" => run.LatencyAsync(),
            "storm" => run.StormAsync(),
            "cost" => CostAsync(run),
            _ => run.OutageStormAsync(),
        };
        await task;
    }

    var table = new List<string>
    {
        string.Create(CultureInfo.InvariantCulture, $"CallRecovery benchmark, {(isQuick ? "quick" : "full")} run, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {(DateTime.UtcNow - started).TotalMinutes:0.0} min; service consumer fetch.wait.max.ms={options.FetchWaitMaxMs} (mock broker), {options.SwitchInstances} switch instances x window {options.SwitchWindow}; every service run decides at least {options.WarmUpDrops:N0} drops before its phase measures, and more until the JIT has settled (a long-running pod's state); the service's defaults (outage guard on, quiet hours, Redis:Durability Local) except: grace period 0 except phase 4, one callback per recovery (the fast switch answers busy), no per-subscriber cool-off (every drop a new pair), deadline 1 h; drops spread over {Rig.Cells:N0} cells and {Rig.Nodes:N0} nodes (phase 6: one cell){string.Concat(options.ServiceSettings.Select(kv => $", {kv.Key}={kv.Value}"))}."),
        "",
        "| phase | measure | value | notes |",
        "| --- | --- | --- | --- |",
    };
    table.AddRange(run.Rows.Select(r => $"| {r.Phase} | {r.Measure} | {r.Value} | {r.Notes.Replace('|', '/').Replace('\n', ' ')} |"));
    table.Add("");
    table.Add("Summary: " + string.Join("; ", run.Summary) + ".");
    Console.WriteLine();
    foreach (var line in table)
    {
        Console.WriteLine(line);
    }

    if (parse.GetValue(output) is { } file)
    {
        await File.WriteAllLinesAsync(file.FullName, table, cancellationToken);
    }

    return 0;
});
return await root.Parse(args).InvokeAsync();

// What a recovery costs, set against the bare gRPC exchange: the bare limits, then the fast switch's phase alone.
static async Task CostAsync(Phases run)
{
    await run.BareAsync();
    await run.EndToEndAsync(SwitchKind.Fast);
}

static async Task RunBoth(Phases run)
{
    await run.EndToEndAsync(SwitchKind.Fast);
    await run.EndToEndAsync(SwitchKind.Realistic);
    await run.EndToEndAsync(SwitchKind.Fast, replicas: 2);
    // The cost of durability: the fast switch again, confirming on Redis's word alone.
    await run.EndToEndAsync(SwitchKind.Fast, durability: "None");
}
