using System.Net;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using Grpc.Net.Client;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Confirmed only when durable (<c>Redis:Durability</c>): an opt-out answered 200, a Kafka offset stored and a command
/// sent only once the writes they rest on are where the mode says (a replica, the fsynced append-only file). Against
/// real redis-servers: a primary with a replica that hangs and then a failover to that replica; a primary that does
/// not fsync before it answers.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class DurabilityTests(Infrastructure infrastructure)
{
    [Theory]
    [InlineData("Replicated")]
    [InlineData("None")]
    public async Task A_failover_to_a_replica_loses_nothing_confirmed_in_replicated_mode(string mode)
    {
        await using var primary = await RedisServer.StartNewAsync();
        await using var replica = await RedisServer.StartNewAsync("--replicaof", "127.0.0.1", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await ReplicatingAsync(replica);
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, redis: primary);
        var settings = scenario.Settings();
        settings["Redis:ConnectionString"] = $"{primary.ConnectionString},{replica.ConnectionString},connectTimeout=1000,syncTimeout=2000,asyncTimeout=2000";
        settings["Redis:Durability"] = mode;
        settings["Redis:DurabilityTimeout"] = "00:00:00.500";
        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        using var stream = await RawSwitch.HelloAsync(channel, "switch-through-failover");

        var before = scenario.Number(1);
        Assert.Equal(HttpStatusCode.OK, await OptOutAsync(http, before));
        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(10), scenario.Number(20)));
        await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command);
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 1, "the first drop committed");

        // The replica is cut off from the primary (a partition): writes reach the primary only.
        await using var replicaAdmin = await ConnectionMultiplexer.ConnectAsync($"{replica.ConnectionString},allowAdmin=true");
        var replicaServer = replicaAdmin.GetServer(replicaAdmin.GetEndPoints()[0]);
        await replicaServer.ExecuteAsync("REPLICAOF", "127.0.0.1", "1");
        var during = scenario.Number(2);
        var answer = await OptOutAsync(http, during);
        await scenario.PublishAsync(Scenario.Drop("call-1", scenario.Number(11), scenario.Number(21)));
        if (mode == "Replicated")
        {
            // Nothing is confirmed: CRM is told to send it again, the offset is not stored, no command goes out, and
            // the replica says why it is not ready.
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer);
            await Eventually.TrueAsync(async () => (await ReadyBodyAsync(http)).Contains("NotDurable: Redis 127.0.0.1:", StringComparison.Ordinal), "not ready: not durable");
            Assert.Contains("0 of 1 replicas acknowledged", await ReadyBodyAsync(http), StringComparison.Ordinal);
            await Eventually.TrueAsync(async () => await DecisionCountAsync(primary, scenario, "call-1") == 1, "the second drop decided on the primary");
            Assert.Equal(1, scenario.CommittedTotal());
            // No command for it reaches the switch while its writes are not durable (two seconds: ten dispatch rounds).
            var command = RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command);
            Assert.NotSame(command, await Task.WhenAny(command, Task.Delay(TimeSpan.FromSeconds(2))));
        }
        else
        {
            Assert.Equal(HttpStatusCode.OK, answer);
            await Eventually.TrueAsync(() => scenario.CommittedTotal() == 2, "committed although only the primary has it");
        }

        // (The first stream goes: what it holds goes round to the stream opened after the failover.)
        stream.Dispose();

        // The primary's host is lost; the replica is promoted (what Sentinel or the cluster would do).
        await primary.StopAsync();
        await replicaServer.ExecuteAsync("REPLICAOF", "NO", "ONE");

        await using var newReplica = await RedisServer.StartNewAsync("--replicaof", "127.0.0.1", replica.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await ReplicatingAsync(newReplica);

        // What was confirmed before is there.
        Assert.True(await OptedOutAsync(replica, scenario, before));
        if (mode == "None")
        {
            // Confirmed, and lost: what this mode costs (the README's table says so).
            Assert.False(await OptedOutAsync(replica, scenario, during));
            return;
        }

        // CRM sends it again: now confirmed, on the new primary and its replica. The drop that waited is decided and
        // committed, and its callback goes out.
        await Eventually.TrueAsync(async () => await OptOutAsync(http, during) == HttpStatusCode.OK, "the opt-out confirmed after the failover");
        Assert.True(await OptedOutAsync(replica, scenario, during));
        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 2, "the waiting drop committed after the failover");
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)) == HttpStatusCode.OK, "ready again");
        using var after = await RawSwitch.HelloAsync(channel, "switch-through-failover");
        var commands = new List<CallbackCommand>();
        while (!commands.Any(c => c.CallId == "call-1"))
        {
            commands.Add((await RawSwitch.NextAsync(after, ServiceMessage.MessageOneofCase.Command)).Command);
        }

        Assert.Equal(RecoveryState.Dispatched, (await RecoveryOnAsync(replica, scenario, "call-1"))?.State);
    }

    [Fact]
    public async Task In_local_mode_a_Redis_that_does_not_fsync_before_it_answers_confirms_nothing_until_it_does()
    {
        await using var redis = await RedisServer.StartNewAsync("--appendfsync", "everysec");
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, redis: redis);
        var settings = scenario.Settings();
        settings["Redis:Durability"] = "Local";
        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();

        await scenario.PublishAsync(Scenario.Drop("call-0", scenario.Number(10), scenario.Number(20)));
        await Eventually.TrueAsync(async () => (await ReadyBodyAsync(http)).Contains("appendfsync everysec: Redis:Durability Local needs appendonly yes and appendfsync always", StringComparison.Ordinal), "not ready, saying the append-only file is not written through");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await OptOutAsync(http, scenario.Number(1)));
        Assert.Equal(0, scenario.CommittedTotal());

        await ConfigSetAsync(redis, "appendfsync", "always");

        await Eventually.TrueAsync(() => scenario.CommittedTotal() == 1, "committed once every write is fsynced before it is answered");
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)) == HttpStatusCode.OK, "ready");
        Assert.Equal(HttpStatusCode.OK, await OptOutAsync(http, scenario.Number(1)));
    }

    [Fact]
    public async Task In_local_mode_a_Redis_that_stops_fsyncing_before_it_answers_is_noticed_and_an_opt_out_is_no_longer_confirmed()
    {
        // A Redis before 7.2 that writes through answers each wait from what was checked a moment ago, without a round
        // of its own: that answer must still expire, so a change of policy at run time is seen within seconds.
        await using var redis = await RedisServer.StartNewAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, redis: redis);
        var settings = scenario.Settings();
        settings["Redis:Durability"] = "Local";
        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();
        await Eventually.TrueAsync(async () => (await ReadyAsync(http)) == HttpStatusCode.OK, "ready");
        Assert.Equal(HttpStatusCode.OK, await OptOutAsync(http, scenario.Number(1)));
        // From 7.2 every wait is a WAITAOF that asks Redis itself, and the policy is not read (the test above, too,
        // is about a Redis before it: Debian 12's is 7.0).
        Assert.True(await VersionAsync(redis) < new Version(7, 2), "a Redis before 7.2, whose policy is read and kept a few seconds");

        await ConfigSetAsync(redis, "appendfsync", "everysec");

        await Eventually.TrueAsync(async () => (await OptOutAsync(http, scenario.Number(2))) == HttpStatusCode.ServiceUnavailable, "an opt-out answered 503 (not confirmed) once the change is seen");
        Assert.Contains("appendfsync everysec", await ReadyBodyAsync(http), StringComparison.Ordinal);
    }

    private static async Task ConfigSetAsync(RedisServer redis, string name, string value)
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{redis.ConnectionString},allowAdmin=true");
        await admin.GetServer(admin.GetEndPoints()[0]).ConfigSetAsync(name, value);
    }

    private static async Task<Version> VersionAsync(RedisServer redis)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        return connection.GetServer(connection.GetEndPoints()[0]).Version;
    }

    private static async Task<HttpStatusCode> OptOutAsync(HttpClient http, string number)
    {
        using var response = await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(number)}/opt-out", UriKind.Relative), null);
        return response.StatusCode;
    }

    private static async Task<HttpStatusCode> ReadyAsync(HttpClient http)
    {
        using var ready = await http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        return ready.StatusCode;
    }

    private static async Task<string> ReadyBodyAsync(HttpClient http)
    {
        using var ready = await http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        return await ready.Content.ReadAsStringAsync();
    }

    private static async Task ReplicatingAsync(RedisServer replica)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{replica.ConnectionString},allowAdmin=true");
        await Eventually.TrueAsync(async () => (await connection.GetServer(connection.GetEndPoints()[0]).InfoAsync("replication")).SelectMany(g => g).Any(p => p.Key == "master_link_status" && p.Value == "up"), "the replica in sync");
    }

    private static async Task<bool> OptedOutAsync(RedisServer redis, Scenario scenario, string number)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        return await connection.GetDatabase().KeyExistsAsync(scenario.SubscriberKeys.OptOut(number));
    }

    private static async Task<long> DecisionCountAsync(RedisServer redis, Scenario scenario, string callId)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        return await connection.GetDatabase().HashLengthAsync(scenario.DecisionKeys.CallDecisions(callId));
    }

    private static async Task<RecoveryRecord?> RecoveryOnAsync(RedisServer redis, Scenario scenario, string callId)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var entries = await connection.GetDatabase().HashGetAllAsync(scenario.RecoveryKeys.Recovery(callId));
        return entries.Length == 0 ? null : RecoveryRecord.FromFields(entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal));
    }
}
