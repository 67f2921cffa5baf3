using CallRecovery.Contracts.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>A switch instance driven by hand, message by message, for tests that need to say exactly what a switch says when.</summary>
public static class RawSwitch
{
    /// <summary>Opens a stream of switch-a (or <paramref name="switchId"/>) and waits for the Welcome.</summary>
    public static async Task<AsyncDuplexStreamingCall<SwitchMessage, ServiceMessage>> HelloAsync(GrpcChannel channel, string instance, string switchId = "switch-a")
    {
        var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: new CancellationTokenSource(Eventually.Limit * 3).Token);
        await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = switchId, InstanceId = instance } });
        await NextAsync(call, ServiceMessage.MessageOneofCase.Welcome);
        return call;
    }

    /// <summary>The next message of that kind on the stream (report confirmations in between are skipped; anything else fails the test).</summary>
    public static async Task<ServiceMessage> NextAsync(AsyncDuplexStreamingCall<SwitchMessage, ServiceMessage> call, ServiceMessage.MessageOneofCase kind)
    {
        while (true)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Eventually.Limit), $"the stream ended before a {kind}");
            if (call.ResponseStream.Current.MessageCase == kind)
            {
                return call.ResponseStream.Current;
            }

            Assert.Equal(ServiceMessage.MessageOneofCase.ReportReceived, call.ResponseStream.Current.MessageCase);
        }
    }
}
