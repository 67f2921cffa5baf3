using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;
using Grpc.Net.Client;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Two replicas, one Kafka group, one Redis: what one replica decides or cancels reaches a switch connected to the
/// other, and a switch's admission rate holds at the wire whichever replicas send.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class CrossReplicaTests(Infrastructure infrastructure)
{
    [Fact]
    public async Task An_opt_out_on_one_service_process_cancels_at_the_switch_a_callback_sent_by_the_other()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        var settings = scenario.Settings();
        // The switch never acknowledges: the recovery stays Dispatched, its command held at the switch.
        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        await using var a = new ServiceHost(settings).Started();
        // The other replica is a process of its own, holding the switch's only stream.
        using var b = ServiceProcess.Start(settings);
        await Eventually.TrueAsync(async () => await Ready(b), "the second service process is ready");
        using var channel = GrpcChannel.ForAddress(b.SwitchingAddress);
        using var stream = await RawSwitch.HelloAsync(channel, "on-b");

        var customer = scenario.Number(1);
        await scenario.PublishAsync(Scenario.Drop("call-0", customer, scenario.Number(2)));
        var command = await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command);
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Dispatched, "sent, not acknowledged");

        // CRM opts the customer out through replica A, which holds no stream of the switch.
        using var http = a.CreateHttpClient();
        (await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(customer)}/opt-out", UriKind.Relative), null)).EnsureSuccessStatusCode();

        var cancel = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Cancel)).Cancel;
        Assert.Equal((command.Command.RecoveryId, 1u, 0u), (cancel.RecoveryId, cancel.CallbackAttempt, cancel.Attempt));
        Assert.Equal(RecoveryState.Cancelled, (await scenario.RecoveryAsync("call-0"))!.State);
        await stream.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task A_superseded_delivery_is_withdrawn_by_its_attempt_and_the_accepted_callback_goes_on()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:00:01";
        settings["Switching:StuckConnectionGrace"] = "00:05:00";
        await using var service = new ServiceHost(settings).Started();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        using var slow = await RawSwitch.HelloAsync(channel, "slow");

        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(1), scenario.Number(2)));
        var first = (await RawSwitch.NextAsync(slow, ServiceMessage.MessageOneofCase.Command)).Command;
        // The slow instance says nothing in time; the command goes again, attempt 2, to the other instance.
        using var fast = await RawSwitch.HelloAsync(channel, "fast");
        var second = (await RawSwitch.NextAsync(fast, ServiceMessage.MessageOneofCase.Command)).Command;
        Assert.Equal((first.RecoveryId, 2u), (second.RecoveryId, second.Attempt));

        // Both accept: the first acceptance wins, the second delivery is superseded.
        await slow.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = first.RecoveryId, Attempt = 1, Accepted = true } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.AcceptedAttempt == 1, "attempt 1 accepted");
        await fast.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = second.RecoveryId, Attempt = 2, Accepted = true } });

        // The cancel names the superseded delivery, not the callback: a pool acting once per callback goes on with attempt 1.
        var cancel = (await RawSwitch.NextAsync(fast, ServiceMessage.MessageOneofCase.Cancel)).Cancel;
        Assert.Equal((first.RecoveryId, 1u, 2u), (cancel.RecoveryId, cancel.CallbackAttempt, cancel.Attempt));
        Assert.Equal(RecoveryState.Acknowledged, (await scenario.RecoveryAsync("call-0"))!.State);
        await slow.RequestStream.CompleteAsync();
        await fast.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Two_replicas_sending_one_paced_switch_never_put_more_than_its_rate_in_any_second_at_the_switch()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var a = new ServiceHost(settings).Started();
        await using var b = new ServiceHost(settings).Started();
        // One pool, an instance on each replica, sharing what it placed; both declare 40 per second.
        var pool = new System.Collections.Concurrent.ConcurrentDictionary<string, CallbackCommand>(StringComparer.Ordinal);
        await using var onA = new EmulatedSwitch(TestSwitch.Pool(a, "on-a", pool, rate: 40));
        await using var onB = new EmulatedSwitch(TestSwitch.Pool(b, "on-b", pool, rate: 40));
        using var stop = new CancellationTokenSource();
        var running = Task.WhenAll(onA.RunAsync(stop.Token), onB.RunAsync(stop.Token));
        await Eventually.TrueAsync(() => onA.IsConnected && onB.IsConnected, "both instances connected");

        const int drops = 200;
        await Task.WhenAll(Enumerable.Range(0, drops).Select(i => scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)))));
        await Eventually.TrueAsync(() => pool.Count == drops, "every callback placed", TimeSpan.FromMinutes(2));

        var arrivals = onA.Placements.Concat(onB.Placements).Select(p => p.At).Order().ToList();
        var busiest = arrivals.Select((t, i) => arrivals.Skip(i).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count()).Max();
        Assert.True(busiest <= 40, $"the busiest second at the switch carried {busiest} commands, declared 40");
        Assert.NotEmpty(onA.Placements);
        Assert.NotEmpty(onB.Placements);

        // A third instance declaring more is told the rate the pool is held to.
        await using var eager = new EmulatedSwitch(TestSwitch.Pool(a, "eager", pool, rate: 80));
        var eagerRun = eager.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => eager.IsConnected, "the third instance connected");
        Assert.Equal(40u, eager.WelcomeRate);
        await stop.CancelAsync();
        await running.DefaultTimeout();
        await eagerRun.DefaultTimeout();
    }

    private static async Task<bool> Ready(ServiceProcess service)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return (await http.GetAsync(new Uri(service.HttpAddress, "/health/ready"))).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            // Not listening yet.
            return false;
        }
    }
}
