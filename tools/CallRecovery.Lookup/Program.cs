using System.CommandLine;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace CallRecovery.Lookup;

/// <summary>
/// `callrecovery-lookup call icid-5f1c2a` | `recovery &lt;id&gt;` | `subscriber +447700900123`.
/// A named class rather than top-level statements, so it never clashes with the service's Program.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var service = new Option<string>("--service") { Description = "The service's HTTP/2 endpoint.", DefaultValueFactory = _ => "http://127.0.0.1:8081", Recursive = true };
        var certificate = new Option<string?>("--client-cert") { Description = "PEM client certificate (when the service requires mutual TLS).", Recursive = true };
        var key = new Option<string?>("--client-key") { Description = "PEM key of the client certificate.", Recursive = true };
        var ca = new Option<string?>("--server-ca") { Description = "PEM CA of the service's certificate.", Recursive = true };
        var root = new RootCommand("Shows why a call was or was not recovered, and how long each step took. Numbers are masked.") { service, certificate, key, ca };
        foreach (var (name, description, field) in new[]
        {
            ("call", "By the network's call id.", "call"),
            ("recovery", "By recovery id.", "recovery"),
            ("subscriber", "A subscriber's recent calls, by E.164 number.", "subscriber"),
        })
        {
            var value = new Argument<string>(field) { Description = description };
            var command = new Command(name, description) { value };
            command.SetAction(async (parse, cancellationToken) =>
            {
                var request = field switch
                {
                    "call" => new TimelineRequest { CallId = parse.GetValue(value)! },
                    "recovery" => new TimelineRequest { RecoveryId = parse.GetValue(value)! },
                    _ => new TimelineRequest { Subscriber = parse.GetValue(value)! },
                };
                using var channel = GrpcChannel.ForAddress(new Uri(parse.GetValue(service)!), new GrpcChannelOptions
                {
                    HttpHandler = Handler(parse.GetValue(certificate), parse.GetValue(key), parse.GetValue(ca)),
                });
                try
                {
                    var reply = await new RecoveryLookup.RecoveryLookupClient(channel).GetTimelineAsync(request, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);
                    TimelinePrinter.Print(reply, Console.Out);
                    return 0;
                }
                catch (RpcException e)
                {
                    await Console.Error.WriteLineAsync($"{e.StatusCode}: {e.Status.Detail}");
                    return e.StatusCode == StatusCode.NotFound ? 3 : 1;
                }
            });
            root.Subcommands.Add(command);
        }

        return await root.Parse(args).InvokeAsync();
    }

    private static SocketsHttpHandler Handler(string? certificatePath, string? keyPath, string? caPath)
    {
        var handler = new SocketsHttpHandler();
        PrivateCertificateAuthority.ConfigureClient(handler.SslOptions, certificatePath, keyPath, caPath);
        return handler;
    }
}
