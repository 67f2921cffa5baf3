using CallRecovery.SwitchEmulator;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>How the tests' emulated switch behaves unless a test says otherwise: switch-a, quick stages and reconnects, and a server error fails the test.</summary>
public static class TestSwitch
{
    public static SwitchEmulatorOptions Options(ServiceHost service, string instanceId = "test-switch-a") => new()
    {
        FailOnServerError = true,
        ServiceAddress = service.SwitchingAddress,
        SwitchId = "switch-a",
        InstanceId = instanceId,
        StageDelay = TimeSpan.FromMilliseconds(20),
        ReconnectDelay = TimeSpan.FromMilliseconds(100),
    };

    /// <summary>An instance of one pool spread over replicas: the pool's placements shared, a declared rate, a wide window, every callback reconnected.</summary>
    public static SwitchEmulatorOptions Pool(ServiceHost service, string instanceId, System.Collections.Concurrent.ConcurrentDictionary<string, Contracts.V1.CallbackCommand> pool, uint rate) =>
        Options(service, instanceId) with
        {
            SharedPlacements = pool,
            MaxCommandsPerSecond = rate,
            MaxUnacknowledged = 64,
            OutcomeMix = new Dictionary<Contracts.V1.Outcome, double> { [Contracts.V1.Outcome.Reconnected] = 1 },
        };
}
