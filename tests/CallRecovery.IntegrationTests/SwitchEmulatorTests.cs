using System.Collections.Concurrent;
using System.Net;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.SwitchEmulator;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The emulated switch keeps the protocol's side of the bargain the fault matrix relies on, against a scripted service
/// on real HTTP/2: a cancel naming one delivery never stops another delivery of the callback that was accepted, even when
/// the cancel comes before that delivery's confirmation (cancels reach a switch by another path than confirmations).
/// </summary>
public sealed class SwitchEmulatorTests
{
    [Fact]
    public async Task A_cancel_of_one_delivery_before_the_confirmation_of_another_leaves_that_callback_going_on_to_its_outcome()
    {
        var port = RedisServer.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        // Not the service's appsettings.json beside the tests: only the listener below.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var service = new ScriptedService();
        builder.Services.AddSingleton(service);
        await using var app = builder.Build();
        app.MapGrpcService<ScriptedService.Endpoint>();
        await app.StartAsync();

        await using var emulator = new EmulatedSwitch(new SwitchEmulatorOptions
        {
            ServiceAddress = new Uri($"http://127.0.0.1:{port}"),
            SwitchId = "switch-a",
            InstanceId = "pool-1",
            StageDelay = TimeSpan.FromMilliseconds(10),
            OutcomeMix = new Dictionary<Outcome, double> { [Outcome.Reconnected] = 1 },
        });
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);

        // Delivery 1 and delivery 2 of the same callback, both accepted; the service keeps delivery 1 and withdraws
        // delivery 2 before it confirms delivery 1.
        var outcome = await service.Outcome.Task.WaitAsync(Eventually.Limit);
        Assert.Equal(Outcome.Reconnected, outcome.Outcome);
        Assert.Equal(1u, outcome.CallbackAttempt);
        Assert.Equal([(ScriptedService.RecoveryId, 1u)], emulator.Placements.Select(p => (p.RecoveryId, p.CallbackAttempt)));
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    /// <summary>Sends two deliveries of one callback, waits for both acceptances, cancels the second, confirms the first.</summary>
    private sealed class ScriptedService
    {
        public const string RecoveryId = "0123456789abcdef0123456789abcdef.call-0";

        public TaskCompletionSource<OutcomeReport> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public sealed class Endpoint(ScriptedService script) : Switching.SwitchingBase
        {
            public override async Task Connect(IAsyncStreamReader<SwitchMessage> requestStream, IServerStreamWriter<ServiceMessage> responseStream, ServerCallContext context)
            {
                Assert.True(await requestStream.MoveNext());
                await responseStream.WriteAsync(new ServiceMessage { Welcome = new Welcome { ConnectionId = "c-1", MaxUnacknowledged = 32 } });
                foreach (var attempt in new uint[] { 1, 2 })
                {
                    await responseStream.WriteAsync(new ServiceMessage { Command = Command(attempt) });
                }

                var accepted = new ConcurrentDictionary<uint, bool>();
                while (await requestStream.MoveNext())
                {
                    var message = requestStream.Current;
                    if (message.Ack is { Accepted: true } ack && accepted.TryAdd(ack.Attempt, true) && accepted.Count == 2)
                    {
                        await responseStream.WriteAsync(new ServiceMessage { Cancel = new CancelCommand { RecoveryId = RecoveryId, CallbackAttempt = 1, Attempt = 2, Reason = "another delivery of this callback was accepted" } });
                        await responseStream.WriteAsync(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = RecoveryId, AcceptedAttempt = 1, CallbackAttempt = 1 } });
                    }
                    else if (message.Progress is { } progress)
                    {
                        await responseStream.WriteAsync(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = RecoveryId, Stage = progress.Stage, CallbackAttempt = progress.CallbackAttempt } });
                    }
                    else if (message.Outcome is { } outcome)
                    {
                        await responseStream.WriteAsync(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = RecoveryId, Outcome = outcome.Outcome, CallbackAttempt = outcome.CallbackAttempt } });
                        script.Outcome.TrySetResult(outcome);
                    }
                }
            }

            private static CallbackCommand Command(uint attempt) => new()
            {
                RecoveryId = RecoveryId,
                CallId = "call-0",
                Customer = "+447700900123",
                OtherParty = "+447700900456",
                Attempt = attempt,
                CallbackAttempt = 1,
                DropTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(-5)),
                Deadline = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(5)),
            };
        }
    }
}
