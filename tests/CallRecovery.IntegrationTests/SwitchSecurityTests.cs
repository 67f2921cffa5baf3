using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.SwitchEmulator;
using Grpc.Core;
using Grpc.Net.Client;
using CallRecovery.Recoveries;

namespace CallRecovery.IntegrationTests;

/// <summary>Mutual TLS on the switch API: only switch certificates from the switch CA, each switch only its own commands.</summary>
[Collection(RealInfrastructure.Name)]
public sealed class SwitchSecurityTests(Infrastructure infrastructure) : IDisposable
{
    private readonly TestCertificates _certificates = new();

    [Fact]
    public async Task Mutual_TLS_accepts_the_switch_certificate_and_refuses_others()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = await StartSecureAsync(scenario);

        await using var genuine = Emulator(service, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath);
        using var stop = new CancellationTokenSource();
        var running = genuine.RunAsync(stop.Token);
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Completed, "the genuine switch completed the recovery");

        await AssertRefusedAsync(() => SayHelloAsync(service, "switch-a", _certificates.RogueCertificatePath, _certificates.RogueKeyPath));
        await AssertRefusedAsync(() => SayHelloAsync(service, "switch-a", certificatePath: null, keyPath: null));
        // The refusals leave the genuine switch in service: the next recovery still reaches it.
        await scenario.PublishAsync(Scenario.Drop("call-1", scenario.Number(2), scenario.Number(3)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-1"))?.State == RecoveryState.Completed, "the genuine switch completed the next recovery");
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task A_switch_certificate_without_client_authentication_usage_or_revoked_by_the_CRL_is_refused()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyTo(settings);
        settings["Switching:ClientCertificateRevocationListPath"] = _certificates.RevocationListPath;
        await using var service = new ServiceHost(settings).Started();

        // Same CA, same CN: one carries only the server-authentication usage, the other is on the CRL.
        await AssertRefusedAsync(() => SayHelloAsync(service, "switch-a", _certificates.NoClientUsageCertificatePath, _certificates.NoClientUsageKeyPath));
        await AssertRefusedAsync(() => SayHelloAsync(service, "switch-a", _certificates.RevokedCertificatePath, _certificates.RevokedKeyPath));
        // The genuine certificate still gets in.
        await SayHelloAsync(service, "switch-a", _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath);
    }

    [Fact]
    public async Task One_switch_cannot_receive_or_report_another_switchs_commands()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = await StartSecureAsync(scenario);

        // switch-b's certificate cannot open switch-a's stream.
        var impersonation = await Assert.ThrowsAsync<RpcException>(() => SayHelloAsync(service, "switch-a", _certificates.SwitchBCertificatePath, _certificates.SwitchBKeyPath));
        Assert.Equal(StatusCode.PermissionDenied, impersonation.StatusCode);

        // switch-a places a recovery; switch-b, on its own stream, cannot report on it.
        await using var switchA = Emulator(service, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath);
        using var stop = new CancellationTokenSource();
        var running = switchA.RunAsync(stop.Token);
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Completed, "switch-a completed the recovery");
        var recovery = await scenario.RecoveryAsync("call-0");

        using var channel = Channel(service, _certificates.SwitchBCertificatePath, _certificates.SwitchBKeyPath);
        using var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: new CancellationTokenSource(Eventually.Limit).Token);
        await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = "switch-b", InstanceId = "b-1" } });
        Assert.True(await call.ResponseStream.MoveNext());
        Assert.Equal(ServiceMessage.MessageOneofCase.Welcome, call.ResponseStream.Current.MessageCase);
        await call.RequestStream.WriteAsync(new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = recovery!.RecoveryId, Outcome = Outcome.Failed, FailureCause = "forged" } });
        // The forged report is refused on its own: the stream stays open (closing it would make an honest switch resend in a loop).
        Assert.True(await call.ResponseStream.MoveNext());
        var refused = call.ResponseStream.Current.ReportRefused;
        Assert.NotNull(refused);
        Assert.Equal(RefusalReason.Forbidden, refused.Reason);
        Assert.Equal(recovery.RecoveryId, refused.RecoveryId);

        var after = await scenario.RecoveryAsync("call-0");
        Assert.Equal(recovery.Outcome, after!.Outcome);
        Assert.NotEqual("forged", after.Detail);
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    public void Dispose() => _certificates.Dispose();

    /// <summary>The TLS handshake refuses the connection: the client sees a failed HTTP/2 connection or a failed call.</summary>
    private static async Task AssertRefusedAsync(Func<Task> connect)
    {
        var refused = await Assert.ThrowsAnyAsync<Exception>(connect);
        Assert.True(refused is IOException || refused is RpcException { StatusCode: not StatusCode.OK }, $"refused, not {refused.GetType().Name}: {refused.Message}");
    }

    private async Task<ServiceHost> StartSecureAsync(Scenario scenario)
    {
        var settings = scenario.Settings();
        _certificates.ApplyTo(settings);
        await Task.CompletedTask;
        return new ServiceHost(settings).Started();
    }

    private async Task SayHelloAsync(ServiceHost service, string switchId, string? certificatePath, string? keyPath)
    {
        using var channel = Channel(service, certificatePath, keyPath);
        using var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: new CancellationTokenSource(Eventually.Limit).Token);
        await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = switchId, InstanceId = "probe" } });
        await call.ResponseStream.MoveNext();
    }

    private GrpcChannel Channel(ServiceHost service, string? certificatePath, string? keyPath)
    {
        var handler = new SocketsHttpHandler();
        PrivateCertificateAuthority.ConfigureClient(handler.SslOptions, certificatePath, keyPath, _certificates.AuthorityPath);
        return GrpcChannel.ForAddress(service.SwitchingAddress, new GrpcChannelOptions { HttpHandler = handler });
    }

    private EmulatedSwitch Emulator(ServiceHost service, string certificatePath, string keyPath) =>
        new(TestSwitch.Options(service, "secure-a") with
        {
            ClientCertificatePath = certificatePath,
            ClientKeyPath = keyPath,
            ServerCertificateAuthorityPath = _certificates.AuthorityPath,
        });
}
