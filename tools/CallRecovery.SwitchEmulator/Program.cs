using System.CommandLine;
using System.Globalization;
using CallRecovery.Contracts.V1;
using CallRecovery.SwitchEmulator;

// An emulated switch pool: `dotnet run -- --service http://127.0.0.1:8081 --switch-id switch-lon --instances 2`.
var service = new Option<string>("--service") { Description = "The service's switch endpoint (HTTP/2).", DefaultValueFactory = _ => "http://127.0.0.1:8081" };
var switchId = new Option<string>("--switch-id") { Description = "Switch (pool) id.", DefaultValueFactory = _ => "switch-default" };
var instances = new Option<int>("--instances") { Description = "Instances in the pool, each with its own stream.", DefaultValueFactory = _ => 1 };
var window = new Option<uint>("--window") { Description = "Unacknowledged commands per instance.", DefaultValueFactory = _ => 16 };
var rejectRatio = new Option<double>("--reject-ratio") { Description = "Share of first deliveries rejected as overloaded.", DefaultValueFactory = _ => 0 };
var stageDelay = new Option<int>("--stage-delay-ms") { Description = "Milliseconds between progress stages.", DefaultValueFactory = _ => 300 };
var rate = new Option<uint>("--rate") { Description = "Admission rate declared in Hello: new commands per second for the whole switch (0: none).", DefaultValueFactory = _ => 0 };
var mix = new Option<string?>("--outcomes") { Description = "Outcome weights, e.g. reconnected=70,no-answer=10,declined=8,busy=5,unreachable=4,failed=3." };
var certificate = new Option<string?>("--client-cert") { Description = "PEM client certificate for mutual TLS." };
var key = new Option<string?>("--client-key") { Description = "PEM key of the client certificate." };
var ca = new Option<string?>("--server-ca") { Description = "PEM CA of the service's certificate." };
var root = new RootCommand("Emulated switch: receives callback commands and answers like a switch, placing no real calls.")
{
    service, switchId, instances, window, rejectRatio, stageDelay, rate, mix, certificate, key, ca,
};
root.SetAction(async (parse, cancellationToken) =>
{
    var options = new SwitchEmulatorOptions
    {
        ServiceAddress = new Uri(parse.GetValue(service)!),
        SwitchId = parse.GetValue(switchId)!,
        MaxUnacknowledged = parse.GetValue(window),
        RejectRatio = parse.GetValue(rejectRatio),
        MaxCommandsPerSecond = parse.GetValue(rate),
        StageDelay = TimeSpan.FromMilliseconds(parse.GetValue(stageDelay)),
        ClientCertificatePath = parse.GetValue(certificate),
        ClientKeyPath = parse.GetValue(key),
        ServerCertificateAuthorityPath = parse.GetValue(ca),
    };
    if (parse.GetValue(mix) is { } weights)
    {
        options = options with { OutcomeMix = OutcomeMix.Parse(weights) };
    }

    var pool = Enumerable.Range(1, parse.GetValue(instances))
        .Select(i => new EmulatedSwitch(options with { InstanceId = $"{Environment.MachineName}-{i}", Seed = options.Seed + i }))
        .ToList();
    var running = pool.Select(s => s.RunAsync(cancellationToken)).ToList();
    Console.WriteLine($"Emulating switch '{options.SwitchId}' with {pool.Count} instance(s) against {options.ServiceAddress}. Ctrl-C stops.");
    try
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"connected {pool.Count(s => s.IsConnected)}/{pool.Count}  commands {pool.Sum(s => s.Received.Count)}  placed {pool.Sum(s => s.Placed.Count)}  reconnected {pool.Sum(s => s.Outcomes.Values.Count(o => o == Outcome.Reconnected))}  duplicates {pool.Sum(s => s.Duplicates)}"));
        }
    }
    catch (OperationCanceledException)
    {
        // Ctrl-C.
    }

    await Task.WhenAll(running);
    foreach (var emulated in pool)
    {
        await emulated.DisposeAsync();
    }

    return 0;
});
return await root.Parse(args).InvokeAsync();
