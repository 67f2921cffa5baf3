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
}
