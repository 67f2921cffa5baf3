using System.CommandLine;
using System.Globalization;
using CallRecovery.FaultMatrix;

// The fault matrix: `dotnet run --project tools/CallRecovery.FaultMatrix -c Release -- --drops 60` (short mode).
var drops = new Option<int>("--drops") { Description = "Eligible drops published per fault kind.", DefaultValueFactory = _ => 60 };
var rounds = new Option<int>("--rounds") { Description = "How many times the whole matrix runs (the long mode repeats it).", DefaultValueFactory = _ => 1 };
var rate = new Option<double>("--rate") { Description = "Drops published per second in each phase (the long mode publishes faster).", DefaultValueFactory = _ => 33 };
var only = new Option<string?>("--only") { Description = "Run only the fault kinds whose name contains this text." };
var durability = new Option<string>("--durability") { Description = "Redis:Durability under test: Local (one Redis fsyncing every write), Replicated (a primary and a replica, WAIT), None (a primary and a replica, fsync every second).", DefaultValueFactory = _ => "Local" };
durability.AcceptOnlyFromAmong("Local", "Replicated", "None");
var plant = new Option<bool>("--plant-double-send") { Description = "Self-test: the service runs with a planted double send (Testing:PlantDoubleSend); exits 0 only if the matrix catches it (duplicate executions), 1 if it stays green." };
var root = new RootCommand("Fault matrix: drops published while faults are injected; exits non-zero on any lost recovery or duplicate execution.") { drops, rounds, rate, only, durability, plant };
root.SetAction(async (parse, cancellationToken) =>
{
    Console.WriteLine($"Redis:Durability {parse.GetValue(durability)}{(parse.GetValue(plant) ? ", planted double send" : string.Empty)}");
    await using var matrix = new Matrix(Console.Out, new MatrixOptions(parse.GetValue(durability)!, parse.GetValue(plant)));
    await matrix.StartAsync();
    var results = new List<PhaseResult>();
    for (var round = 0; round < parse.GetValue(rounds); round++)
    {
        foreach (var (fault, inject) in matrix.Faults().Where(f => parse.GetValue(only) is not { } filter || f.Fault.Contains(filter, StringComparison.OrdinalIgnoreCase)))
        {
            var result = await matrix.RunPhaseAsync(fault, parse.GetValue(drops), inject, parse.GetValue(rate));
            results.Add(result);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(result.Green ? "green" : "RED  ")}  {fault}: {result.Drops} drops, lost {result.Lost}, duplicates {result.DuplicatesByRecovery}/{result.DuplicatesByCall}, unpublished {result.Unpublished}, miscompensated {result.MiscompensatedCount}, redeliveries {result.Redeliveries}, callbacks tried again {result.CallbacksTriedAgain}, worst drop-to-command {result.WorstDropToCommand.TotalSeconds:0.0} s"));
            foreach (var problem in result.Problems)
            {
                Console.WriteLine("       " + problem);
            }
        }
    }

    Console.WriteLine();
    Console.WriteLine("| fault | injected | drops | lost | duplicate executions (recovery id / call id) | unpublished outcomes | redeliveries absorbed | callbacks tried again | worst drop-to-command |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    foreach (var group in results.GroupBy(r => r.Fault))
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {group.Key} | {group.Sum(r => r.Injected)} | {group.Sum(r => r.Drops)} | {group.Sum(r => r.Lost)} | {group.Sum(r => r.DuplicatesByRecovery)} / {group.Sum(r => r.DuplicatesByCall)} | {group.Sum(r => r.Unpublished)} | {group.Sum(r => r.Redeliveries)} | {group.Sum(r => r.CallbacksTriedAgain)} | {group.Max(r => r.WorstDropToCommand).TotalSeconds:0.0} s |"));
    }

    var green = results.All(r => r.Green);
    Console.WriteLine(green ? "fault matrix: green" : "fault matrix: RED");
    if (parse.GetValue(plant))
    {
        var caught = results.Sum(r => r.DuplicatesByRecovery) > 0;
        Console.WriteLine(caught ? "the planted double send was caught: duplicate executions" : "the planted double send went unnoticed");
        return caught ? 0 : 1;
    }

    return green ? 0 : 1;
});
return await root.Parse(args).InvokeAsync();
