using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CallRecovery.TrafficSimulator;

// Publishes simulated network traffic until Ctrl-C, --duration or --max-calls:
//   dotnet run -- --bootstrap-servers localhost:9092 --rate 50 --duration 60
// Phone numbers are never printed: only counts.
var defaults = new TrafficOptions();
var bootstrapServers = new Option<string>("--bootstrap-servers") { Description = "Kafka bootstrap servers, e.g. localhost:9092.", Required = true };
var topic = new Option<string>("--topic") { Description = "Topic of network events.", DefaultValueFactory = _ => defaults.Topic };
var rate = new Option<double>("--rate") { Description = "New calls per second.", DefaultValueFactory = _ => defaults.CallsPerSecond };
var duration = new Option<double?>("--duration") { Description = "Seconds to generate calls (pending redials follow); default: until Ctrl-C." };
var maxCalls = new Option<int?>("--max-calls") { Description = "Stop after this many calls." };
var subscribers = new Option<int>("--subscribers") { Description = "Size of the subscriber number pool.", DefaultValueFactory = _ => defaults.Subscribers };
var seed = new Option<int>("--seed") { Description = "Seed of every random choice.", DefaultValueFactory = _ => defaults.Seed };
var runId = new Option<string?>("--run-id") { Description = "Tag inside call and event ids (letters, digits); default: a fresh one per run, so reruns are new calls, not redeliveries." };
var jsonRatio = new Option<double>("--json-ratio") { Description = "Share of messages as protobuf JSON.", DefaultValueFactory = _ => defaults.JsonRatio };
var redialRatio = new Option<double>("--redial-ratio") { Description = "Share of drops the parties redial themselves.", DefaultValueFactory = _ => defaults.RedialRatio };
var poisonRatio = new Option<double>("--poison-ratio") { Description = "Share of calls replaced by garbage or invalid messages.", DefaultValueFactory = _ => defaults.PoisonRatio };
var bothLegsRatio = new Option<double>("--both-legs-ratio") { Description = "Share of drops reported by both legs.", DefaultValueFactory = _ => defaults.BothLegsRatio };

var root = new RootCommand("CallRecovery traffic simulator: publishes realistic network events (drops, clearings, both legs, redials) to Kafka.")
{
    bootstrapServers, topic, rate, duration, maxCalls, subscribers, seed, runId, jsonRatio, redialRatio, poisonRatio, bothLegsRatio,
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
        PoisonRatio = parse.GetValue(poisonRatio),
        BothLegsRatio = parse.GetValue(bothLegsRatio),
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

    var clock = Stopwatch.StartNew();
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
            Console.WriteLine(Invariant($"{at.TotalSeconds,6:F1}s  calls {current.Calls,7}  drops {current.Drops,7}  events {current.EventsPublished,8}  {eventsPerSecond,7:F1} events/s"));
            (previous, previousAt) = (current, at);
        }
    }

    var final = await run;
    var elapsed = clock.Elapsed.TotalSeconds;
    Console.WriteLine(Invariant(
        $"done in {elapsed:F1}s: {final.Calls} calls ({final.Drops} drops, {final.NormalClearings} normal clearings, {final.NeverAnswered} never answered, {final.Poison} poison, {final.Emergencies} emergency), {final.BothLegs} second legs, {final.Redials} redials, {final.EventsPublished} events ({final.Json} JSON), {final.EventsPublished / Math.Max(elapsed, 0.001):F1} events/s"));
    return 0;
});

return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });

static string Invariant(FormattableString text) => FormattableString.Invariant(text);
