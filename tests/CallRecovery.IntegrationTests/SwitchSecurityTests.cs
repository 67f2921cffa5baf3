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

        var connectedBefore = genuine.Connections;
        await AssertRefusedAsync(() => SayHelloAsync(service, "switch-a", _certificates.RogueCertificatePath, _certificates.RogueKeyPath));
        await AssertRefusedAsync(() => SayHelloAsync(service, "switch-a", certificatePath: null, keyPath: null));
        // The refusals leave the genuine switch in service, on the stream it had: the next recovery still reaches it.
        Assert.Equal(connectedBefore, genuine.Connections);
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

    [Fact]
    public async Task A_certificate_serves_the_switch_it_names_or_is_mapped_to_and_no_declared_rate_goes_below_the_floor()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyTo(settings);
        settings["Switching:CertificateSwitches:msc-north.operator.net"] = "switch-north";
        settings["Switching:MinAdmissionRate"] = "10";
        await using var service = new ServiceHost(settings).Started();

        // The host certificate (DNS name msc-north.operator.net) serves the switch it is mapped to, not its CN's name.
        var north = await SayHelloAsync(service, "switch-north", _certificates.NorthCertificatePath, _certificates.NorthKeyPath, rate: 1);
        Assert.Equal(ServiceMessage.MessageOneofCase.Welcome, north.MessageCase);
        var byCommonName = await Assert.ThrowsAsync<RpcException>(() => SayHelloAsync(service, "msc-north", _certificates.NorthCertificatePath, _certificates.NorthKeyPath));
        Assert.Equal(StatusCode.PermissionDenied, byCommonName.StatusCode);

        // An instance declaring 1 or 2 commands/s cannot throttle its pool below the floor.
        Assert.Equal(10u, north.Welcome.MaxCommandsPerSecond);
        var switchA = await SayHelloAsync(service, "switch-a", _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath, rate: 2);
        Assert.Equal(10u, switchA.Welcome.MaxCommandsPerSecond);
    }

    [Fact]
    public async Task The_lookup_answers_lookup_clients_and_scoped_tokens_but_not_switches()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyTo(settings);
        _certificates.ApplyJwtTo(settings);
        await using var service = new ServiceHost(settings).Started();
        var byCall = new TimelineRequest { CallId = "call-nobody-made" };
        var bySubscriber = new TimelineRequest { Subscriber = scenario.Number(0) };

        // A switch's certificate gets nothing, for any key.
        Assert.Equal(StatusCode.PermissionDenied, await LookupStatusAsync(service, byCall, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath));
        Assert.Equal(StatusCode.PermissionDenied, await LookupStatusAsync(service, bySubscriber, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath));
        // The lookup client's certificate is answered (nothing is recorded for that call).
        Assert.Equal(StatusCode.NotFound, await LookupStatusAsync(service, byCall, _certificates.LookupCertificatePath, _certificates.LookupKeyPath));
        Assert.Equal(StatusCode.OK, await LookupStatusAsync(service, bySubscriber, _certificates.LookupCertificatePath, _certificates.LookupKeyPath));
        // A token with the scopes is answered over any certificate; calls:read alone does not open a subscriber's timeline.
        var callsOnly = _certificates.Token("engineer-1", "calls:read");
        Assert.Equal(StatusCode.NotFound, await LookupStatusAsync(service, byCall, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath, callsOnly));
        Assert.Equal(StatusCode.PermissionDenied, await LookupStatusAsync(service, bySubscriber, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath, callsOnly));
        var both = _certificates.Token("engineer-1", "calls:read subscribers:read");
        Assert.Equal(StatusCode.OK, await LookupStatusAsync(service, bySubscriber, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath, both));
        // A token of another issuer's key counts for nothing; without a certificate there is no connection at all.
        Assert.Equal(StatusCode.PermissionDenied, await LookupStatusAsync(service, byCall, _certificates.SwitchACertificatePath, _certificates.SwitchAKeyPath, _certificates.Token("engineer-1", "calls:read", otherKey: true)));
        await AssertRefusedAsync(() => LookupStatusAsync(service, byCall, certificatePath: null, keyPath: null));
    }

    private async Task<StatusCode> LookupStatusAsync(ServiceHost service, TimelineRequest request, string? certificatePath, string? keyPath, string? token = null)
    {
        using var channel = Channel(service, certificatePath, keyPath);
        var headers = token is null ? null : new Metadata { { "authorization", "Bearer " + token } };
        try
        {
            await new RecoveryLookup.RecoveryLookupClient(channel).GetTimelineAsync(request, headers).ResponseAsync.WaitAsync(Eventually.Limit);
            return StatusCode.OK;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.PermissionDenied or StatusCode.Unauthenticated)
        {
            return e.StatusCode;
        }
    }

    public void Dispose() => _certificates.Dispose();

    /// <summary>The TLS handshake refuses the connection: the client sees a failed HTTP/2 connection or a failed call.</summary>
    private static async Task AssertRefusedAsync(Func<Task> connect)
    {
        var refused = await Assert.ThrowsAnyAsync<Exception>(connect);
        // Refused at once, not a call that waited for its deadline.
        Assert.True(refused is IOException || refused is RpcException { StatusCode: not (StatusCode.OK or StatusCode.Cancelled or StatusCode.DeadlineExceeded) }, $"refused, not {refused.GetType().Name}: {refused.Message}");
    }

    private async Task<ServiceHost> StartSecureAsync(Scenario scenario)
    {
        var settings = scenario.Settings();
        _certificates.ApplyTo(settings);
        await Task.CompletedTask;
        return new ServiceHost(settings).Started();
    }

    private async Task<ServiceMessage> SayHelloAsync(ServiceHost service, string switchId, string? certificatePath, string? keyPath, uint rate = 0)
    {
        using var channel = Channel(service, certificatePath, keyPath);
        using var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: new CancellationTokenSource(Eventually.Limit).Token);
        await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = switchId, InstanceId = "probe", MaxCommandsPerSecond = rate } });
        Assert.True(await call.ResponseStream.MoveNext());
        return call.ResponseStream.Current;
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
