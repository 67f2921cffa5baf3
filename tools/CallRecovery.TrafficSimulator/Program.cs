using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CallRecovery.TrafficSimulator;

// Publishes simulated network traffic until Ctrl-C, --duration or --max-calls:
//   dotnet run -- --bootstrap-servers localhost:9092 --rate 50 --duration 60
// Radio-loss drops are followed by the party's re-attach (SubscriberReachable) 5-40 s later, except for 10% who
// never come back (--reattach-min, --reattach-max, --never-reattach-ratio).
// The outage scenario is off unless --outage-every is given: a cell fails, its calls drop at once (enough for the
// service to declare an outage incident), and after --outage-duration it is reported back in service:
//   dotnet run -- --bootstrap-servers localhost:9092 --outage-every 120 --outage-first-after 30 --outage-duration 20
// Phone numbers are never printed: only counts.
var defaults = new TrafficOptions();
var bootstrapServers = new Option<string>("--bootstrap-servers") { Description = "Kafka bootstrap servers, e.g. localhost:9092.", Required = true };
var topic = new Option<string>("--topic") { Description = "Topic of network events.", DefaultValueFactory = _ => defaults.Topic };
var rate = new Option<double>("--rate") { Description = "New calls per second.", DefaultValueFactory = _ => defaults.CallsPerSecond };
var duration = new Option<double?>("--duration") { Description = "Seconds to generate calls (pending redials, re-attaches and cells back in service follow); default: until Ctrl-C." };
var maxCalls = new Option<int?>("--max-calls") { Description = "Stop after this many calls." };
var subscribers = new Option<int>("--subscribers") { Description = "Size of the subscriber number pool.", DefaultValueFactory = _ => defaults.Subscribers };
var seed = new Option<int>("--seed") { Description = "Seed of every random choice.", DefaultValueFactory = _ => defaults.Seed };
var runId = new Option<string?>("--run-id") { Description = "Tag inside call and event ids (letters, digits); default: a fresh one per run, so reruns are new calls, not redeliveries." };
var jsonRatio = new Option<double>("--json-ratio") { Description = "Share of messages as protobuf JSON.", DefaultValueFactory = _ => defaults.JsonRatio };
var redialRatio = new Option<double>("--redial-ratio") { Description = "Share of drops the parties redial themselves.", DefaultValueFactory = _ => defaults.RedialRatio };
var customerReplyRatio = new Option<double>("--customer-reply-ratio") { Description = "Share of drops whose customer answers \"not now\" themselves (SMS reply, USSD, app).", DefaultValueFactory = _ => defaults.CustomerReplyRatio };
var vulnerableRatio = new Option<double>("--vulnerable-ratio") { Description = "Share of customers flagged vulnerable on their drop events (the same customers every drop; their callbacks go first).", DefaultValueFactory = _ => defaults.VulnerableRatio };
var cellAreas = new Option<int>("--cell-areas") { Description = "Cells from this many areas of --cells-per-area cells (people redial 1-4 times --redial-delay after a drop, by area); 0: cells spread over the whole id space.", DefaultValueFactory = _ => defaults.CellAreas };
var cellsPerArea = new Option<int>("--cells-per-area") { Description = "Cells per area with --cell-areas.", DefaultValueFactory = _ => defaults.CellsPerArea };
var poisonRatio = new Option<double>("--poison-ratio") { Description = "Share of calls replaced by garbage or invalid messages.", DefaultValueFactory = _ => defaults.PoisonRatio };
var bothLegsRatio = new Option<double>("--both-legs-ratio") { Description = "Share of drops reported by both legs.", DefaultValueFactory = _ => defaults.BothLegsRatio };
var reattachMin = new Option<double>("--reattach-min") { Description = "Seconds after a radio-loss drop (radio connection lost, Q.850 27) that its party re-attaches at the earliest (a SubscriberReachable is published).", DefaultValueFactory = _ => defaults.ReattachDelayMin.TotalSeconds };
var reattachMax = new Option<double>("--reattach-max") { Description = "Seconds after a radio-loss drop that its party re-attaches at the latest.", DefaultValueFactory = _ => defaults.ReattachDelayMax.TotalSeconds };
var neverReattachRatio = new Option<double>("--never-reattach-ratio") { Description = "Share of radio-loss parties that never re-attach (their recoveries end customer-unreachable).", DefaultValueFactory = _ => defaults.NeverReattachRatio };
var outageEvery = new Option<double?>("--outage-every") { Description = "Turns the outage scenario on: seconds between two failures of the outage cell (each drops --outage-calls calls within 2 s, then the cell is back in service after --outage-duration). Default: off." };
var outageFirstAfter = new Option<double?>("--outage-first-after") { Description = "Seconds after the start that the first outage begins; default: --outage-every." };
var outageDuration = new Option<double>("--outage-duration") { Description = "Seconds the cell stays out of service before its CellInService is published.", DefaultValueFactory = _ => defaults.OutageDuration.TotalSeconds };
var outageCount = new Option<int?>("--outage-count") { Description = "Most outages in the run; default: no limit." };
var outageCalls = new Option<int>("--outage-calls") { Description = "Answered calls in the cell that drop when it fails (the service declares an outage at 20 within 10 s).", DefaultValueFactory = _ => defaults.OutageCalls };
var outageCell = new Option<string>("--outage-cell") { Description = "The cell that fails.", DefaultValueFactory = _ => defaults.OutageCell };
var outageNode = new Option<string?>("--outage-node") { Description = "The switching node serving the outage cell; default: the first node (" + defaults.SwitchingNodes[0] + ")." };

var root = new RootCommand("CallRecovery traffic simulator: publishes realistic network events (drops, clearings, both legs, redials, re-attaches after radio loss, and with --outage-every a cell that fails and comes back) to Kafka.")
{
    bootstrapServers, topic, rate, duration, maxCalls, subscribers, seed, runId, jsonRatio, redialRatio, customerReplyRatio, vulnerableRatio, cellAreas, cellsPerArea, poisonRatio, bothLegsRatio,
    reattachMin, reattachMax, neverReattachRatio, outageEvery, outageFirstAfter, outageDuration, outageCount, outageCalls, outageCell, outageNode,
};
root.SetAction(async (parse, cancellationToken) =>
{
    var options = defaults with
    {
        BootstrapServers = parse.GetValue(bootstrapServers)!,
        Topic = parse.GetValue(topic)!,
        CallsPerSecond = parse.GetValue(rate),
        Duration = parse.GetValue(duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        MaxCalls = parse.GetValue(maxCalls),
        Subscribers = parse.GetValue(subscribers),
        Seed = parse.GetValue(seed),
        RunId = parse.GetValue(runId) ?? "r" + DateTimeOffset.UtcNow.ToString("yyMMddHHmmss", CultureInfo.InvariantCulture),
        JsonRatio = parse.GetValue(jsonRatio),
        RedialRatio = parse.GetValue(redialRatio),
        CustomerReplyRatio = parse.GetValue(customerReplyRatio),
        VulnerableRatio = parse.GetValue(vulnerableRatio),
        CellAreas = parse.GetValue(cellAreas),
        CellsPerArea = parse.GetValue(cellsPerArea),
        PoisonRatio = parse.GetValue(poisonRatio),
        BothLegsRatio = parse.GetValue(bothLegsRatio),
        ReattachDelayMin = Seconds(parse.GetValue(reattachMin)),
        ReattachDelayMax = Seconds(parse.GetValue(reattachMax)),
        NeverReattachRatio = parse.GetValue(neverReattachRatio),
        OutageEvery = parse.GetValue(outageEvery) is { } every ? Seconds(every) : null,
        OutageFirstAfter = parse.GetValue(outageFirstAfter) is { } firstAfter ? Seconds(firstAfter) : null,
        OutageDuration = Seconds(parse.GetValue(outageDuration)),
        OutageCount = parse.GetValue(outageCount),
        OutageCalls = parse.GetValue(outageCalls),
        OutageCell = parse.GetValue(outageCell)!,
        OutageSwitchingNode = parse.GetValue(outageNode),
    };

    TrafficSimulator simulator;
    try
    {
        simulator = new TrafficSimulator(options, diagnostics: Console.Error);
    }
    catch (ArgumentException e)
    {
        await Console.Error.WriteLineAsync(e.Message);
        return 2;
    }

    Console.WriteLine(Invariant(
        $"publishing to {options.Topic} at {options.BootstrapServers}: {options.CallsPerSecond} calls/s, seed {options.Seed}, run id {options.RunId}, {options.Subscribers} subscribers ({simulator.Generator.RepeatDroppers.Count} repeat droppers); Ctrl-C stops"));
    Console.WriteLine(Invariant(
        $"radio-loss parties re-attach {options.ReattachDelayMin.TotalSeconds:0.#}-{options.ReattachDelayMax.TotalSeconds:0.#} s after the drop, {options.NeverReattachRatio:P0} never"));
    if (options.OutageEvery is { } period)
    {
        Console.WriteLine(Invariant(
            $"outage scenario: cell {options.OutageCell} on {options.OutageSwitchingNode ?? options.SwitchingNodes[0]} fails {(options.OutageFirstAfter ?? period).TotalSeconds:0.#} s after the start{(options.OutageCount is 1 ? string.Empty : $", then every {period.TotalSeconds:0.#} s")}{(options.OutageCount is { } most and > 1 ? $" ({most} times)" : string.Empty)}: {options.OutageCalls} calls drop, back in service after {options.OutageDuration.TotalSeconds:0.#} s"));
    }

    var clock = Stopwatch.StartNew();
    simulator.OutageStarted += (_, outage) => Console.WriteLine(Invariant(
        $"{clock.Elapsed.TotalSeconds,6:F1}s  outage {outage.Number}: cell {outage.Cell} on {outage.SwitchingNode} fails, {outage.Calls.Count} calls drop; back in service at {(outage.End - outage.Start).TotalSeconds + clock.Elapsed.TotalSeconds:F1}s"));

    var run = simulator.RunAsync(cancellationToken);
    using (var timer = new PeriodicTimer(TimeSpan.FromSeconds(2)))
    {
        var previous = simulator.Counters;
        var previousAt = TimeSpan.Zero;
        while (true)
        {
            await Task.WhenAny(run, timer.WaitForNextTickAsync(CancellationToken.None).AsTask());
            if (run.IsCompleted)
            {
                break;
            }

            var current = simulator.Counters;
            var at = clock.Elapsed;
            var eventsPerSecond = (current.EventsPublished - previous.EventsPublished) / (at - previousAt).TotalSeconds;
            Console.WriteLine(Invariant($"{at.TotalSeconds,6:F1}s  calls {current.Calls,7}  drops {current.Drops,7}  re-attaches {current.Reattaches,6}  events {current.EventsPublished,8}  {eventsPerSecond,7:F1} events/s"));
            (previous, previousAt) = (current, at);
        }
    }

    var final = await run;
    var elapsed = clock.Elapsed.TotalSeconds;
    Console.WriteLine(Invariant(
        $"done in {elapsed:F1}s: {final.Calls} calls ({final.Drops} drops, {final.NormalClearings} normal clearings, {final.NeverAnswered} never answered, {final.Poison} poison, {final.Emergencies} emergency), {final.BothLegs} second legs, {final.Redials} redials, {final.Reattaches} re-attaches, {final.OutageDrops} outage drops, {final.CellsInService} cells back in service, {final.CustomerReplies} customer replies, {final.EventsPublished} events ({final.Json} JSON), {final.EventsPublished / Math.Max(elapsed, 0.001):F1} events/s"));
    return 0;
});

return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });

static string Invariant(FormattableString text) => FormattableString.Invariant(text);

static TimeSpan Seconds(double seconds) => double.IsFinite(seconds) && Math.Abs(seconds) < TimeSpan.MaxValue.TotalSeconds / 2 ? TimeSpan.FromSeconds(seconds) : TimeSpan.MaxValue;
