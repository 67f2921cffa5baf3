using System.Diagnostics.Metrics;
using System.Net;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// A Redis that answers but refuses writes (full, its append-only file failing, a permission taken away) is an
/// outage of the service, not bad data: consumption waits (no dead letter, no commit), the replica is not ready and
/// says why, a switch's report is answered so that the switch sends it again, and all of it resumes by itself once
/// Redis takes writes again. Each against a real redis-server.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class RedisRefusalTests(Infrastructure infrastructure)
{
    public static TheoryData<string, string> Refusals => new()
    {
        { "maxmemory reached", "OOM" },
        { "append-only file unwritable", "MISCONF" },
        { "write permission taken away", "NOPERM" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Redis_refusing_writes_pauses_consumption_without_dead_letters_and_everything_resumes_by_itself(string refusal, string code)
    {
        // Writes that fail to reach the append-only file refuse later writes only under appendfsync everysec (under
        // always, redis-server exits): that Redis cannot be durable in Local mode, so the service runs without.
        var everysec = code == "MISCONF";
        await using var redis = await RedisServer.StartNewAsync(everysec ? ["--appendfsync", "everysec"] : []);
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2, redis: redis);
        var settings = scenario.Settings();
        if (everysec)
        {
            settings["Redis:Durability"] = "None";
        }

        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        await using var service = new ServiceHost(settings).Started();
        using var consumed = new MetricCollector<long>(service.Services.GetRequiredService<IMeterFactory>(), "CallRecovery", "callrecovery.events.consumed");
        using var http = service.CreateHttpClient();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        var stream = await RawSwitch.HelloAsync(channel, "switch-during-refusal");

        // A callback under way: accepted by the switch before Redis starts refusing.
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(0), scenario.Number(1000)));
        var command = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command)).Command;
        await stream.RequestStream.WriteAsync(new SwitchMessage { Ack = new CommandAck { RecoveryId = command.RecoveryId, Attempt = command.Attempt, Accepted = true } });
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-0"))?.State == RecoveryState.Acknowledged, "the first callback accepted");
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 1, "the first event committed");
        await Eventually.TrueAsync(async () => (await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready");

        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{redis.ConnectionString},allowAdmin=true");
        await RefuseAsync(code, admin, redis);
        for (var i = 1; i <= 5; i++)
        {
            await scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)));
        }

        // Not ready, with the reason; the drops wait, uncommitted and not dead-lettered.
        await Eventually.TrueAsync(async () =>
        {
            using var ready = await http.GetAsync(new Uri("/health/ready", UriKind.Relative));
            var body = await ready.Content.ReadAsStringAsync();
            return ready.StatusCode == HttpStatusCode.ServiceUnavailable && body.Contains($"RedisRefusesWrites: Redis refuses writes: Redis replied {code}", StringComparison.Ordinal);
        }, $"not ready ({refusal}), saying Redis replied {code}");

        // The switch's outcome is not refused: the stream ends UNAVAILABLE, so the switch sends it again.
        var outcome = new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = command.RecoveryId, Outcome = Outcome.Reconnected, At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), TalkTime = new Google.Protobuf.WellKnownTypes.Duration { Seconds = 30 } } };
        await stream.RequestStream.WriteAsync(outcome);
        var ended = await Assert.ThrowsAsync<RpcException>(async () => await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command));
        Assert.Equal(StatusCode.Unavailable, ended.StatusCode);
        stream.Dispose();

        // The five were read (so "not decided" is the service holding them, not a consumer that never got them).
        await Eventually.TrueAsync(() => consumed.GetMeasurementSnapshot().Sum(m => m.Value) >= 6, "every drop read");
        Assert.Equal(1, scenario.CommittedTotal());
        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal(0, await DecisionCountAsync(admin, scenario, $"call-{i}"));
        }

        Assert.Empty(scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: 1, quiet: TimeSpan.FromSeconds(2)));

        // An operator makes room, mends the disk or gives the permission back: everything goes on by itself.
        await AllowAsync(code, admin);
        await Eventually.TrueAsync(async () => (await Task.WhenAll(Enumerable.Range(1, 5).Select(i => DecisionCountAsync(admin, scenario, $"call-{i}")))).All(n => n == 1), "every waiting drop decided");
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 6, "and committed");
        await Eventually.TrueAsync(async () => (await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "ready again");
        Assert.Empty(scenario.ReadTopic(scenario.DeadLetterTopic, 1, expected: 1, quiet: TimeSpan.FromSeconds(1)));

        // The switch reconnects and sends its unconfirmed outcome again: confirmed and recorded.
        using var again = await RawSwitch.HelloAsync(channel, "switch-during-refusal");
        await again.RequestStream.WriteAsync(outcome);
        // (The callbacks of the drops that waited come to it too.)
        ReportReceived? confirmed = null;
        while (confirmed is null)
        {
            Assert.True(await again.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Eventually.Limit), "the stream ended before the outcome was confirmed");
            confirmed = again.ResponseStream.Current.ReportReceived;
        }

        Assert.Equal((command.RecoveryId, Outcome.Reconnected), (confirmed.RecoveryId, confirmed.Outcome));
        Assert.Equal(RecoveryState.Completed, (await scenario.RecoveryAsync("call-0"))?.State);
        Assert.Equal(1, await DecisionCountAsync(admin, scenario, "call-0"));
    }

    /// <summary>Makes Redis refuse writes the way production meets it.</summary>
    private static async Task RefuseAsync(string code, ConnectionMultiplexer admin, RedisServer redis)
    {
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        switch (code)
        {
            case "OOM":
                // Full: more in use than maxmemory allows, and no eviction (the policy the service needs).
                await server.ConfigSetAsync("maxmemory", "1");
                break;
            case "MISCONF":
                // The disk under the append-only file fails: the next incremental file (opened when the file is
                // rewritten) is /dev/full, so every write to it fails with ENOSPC and Redis refuses writes.
                var directory = Path.Combine(redis.Directory, "appendonlydir");
                var next = Directory.GetFiles(directory, "*.incr.aof").Select(f => int.Parse(Path.GetFileName(f).Split('.')[2], System.Globalization.CultureInfo.InvariantCulture)).Max() + 1;
                File.CreateSymbolicLink(Path.Combine(directory, $"appendonly.aof.{next}.incr.aof"), "/dev/full");
                await server.ExecuteAsync("BGREWRITEAOF");
                await Eventually.TrueAsync(async () => (await server.InfoAsync("persistence")).SelectMany(g => g).Any(p => p.Key == "aof_last_write_status" && p.Value == "err"), "the append-only file failing");
                break;
            default:
                // The service's user may no longer write.
                await server.ExecuteAsync("ACL", "SETUSER", "default", "-@write");
                break;
        }
    }

    private static async Task AllowAsync(string code, ConnectionMultiplexer admin)
    {
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        switch (code)
        {
            case "OOM":
                await server.ConfigSetAsync("maxmemory", "0");
                break;
            case "MISCONF":
                // A rewrite opens a new, healthy incremental file.
                await Eventually.TrueAsync(async () =>
                {
                    try
                    {
                        await server.ExecuteAsync("BGREWRITEAOF");
                    }
                    catch (RedisServerException)
                    {
                        // A rewrite is already under way.
                    }

                    return (await server.InfoAsync("persistence")).SelectMany(g => g).Any(p => p.Key == "aof_last_write_status" && p.Value == "ok");
                }, "the append-only file written again");
                break;
            default:
                await server.ExecuteAsync("ACL", "SETUSER", "default", "+@all");
                break;
        }
    }

    /// <summary>Read by the admin connection (the test's own reads work whatever Redis refuses).</summary>
    private static async Task<long> DecisionCountAsync(ConnectionMultiplexer admin, Scenario scenario, string callId) =>
        await admin.GetDatabase().HashLengthAsync(scenario.DecisionKeys.CallDecisions(callId));
}
