using System.CommandLine;
using System.Globalization;
using CallRecovery.FaultMatrix;

// The fault matrix: `dotnet run --project tools/CallRecovery.FaultMatrix -c Release -- --drops 60` (short mode).
var drops = new Option<int>("--drops") { Description = "Eligible drops published per fault kind.", DefaultValueFactory = _ => 60 };
var rounds = new Option<int>("--rounds") { Description = "How many times the whole matrix runs (the long mode repeats it).", DefaultValueFactory = _ => 1 };
var rate = new Option<double>("--rate") { Description = "Drops published per second in each phase (the long mode publishes faster).", DefaultValueFactory = _ => 33 };
var only = new Option<string?>("--only") { Description = "Run only the fault kinds whose name contains this text." };
var root = new RootCommand("Fault matrix: drops published while faults are injected; exits non-zero on any lost recovery or duplicate execution.") { drops, rounds, rate, only };
root.SetAction(async (parse, cancellationToken) =>
{
    await using var matrix = new Matrix(Console.Out);
    await matrix.StartAsync();
    var results = new List<PhaseResult>();
    for (var round = 0; round < parse.GetValue(rounds); round++)
    {
        foreach (var (fault, inject) in matrix.Faults().Where(f => parse.GetValue(only) is not { } filter || f.Fault.Contains(filter, StringComparison.OrdinalIgnoreCase)))
        {
            var result = await matrix.RunPhaseAsync(fault, parse.GetValue(drops), inject, parse.GetValue(rate));
            results.Add(result);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(result.Green ? "green" : "RED  ")}  {fault}: {result.Drops} drops, lost {result.Lost}, duplicates {result.DuplicatesByRecovery}/{result.DuplicatesByCall}, unpublished {result.Unpublished}, redeliveries {result.Redeliveries}, callbacks tried again {result.CallbacksTriedAgain}, worst drop-to-command {result.WorstDropToCommand.TotalSeconds:0.0} s"));
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
    return green ? 0 : 1;
});
return await root.Parse(args).InvokeAsync();
