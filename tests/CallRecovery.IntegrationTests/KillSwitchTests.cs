using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The kill switch (PUT /v1/rollout): one operator call through one replica stops every replica's new callback
/// commands, what comes due meanwhile is held in its queue, and resuming through any replica releases it paced by
/// the switch's rate. Each change is audited.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class KillSwitchTests(Infrastructure infrastructure) : IDisposable
{
    private const uint Rate = 20;
    private readonly TestCertificates _certificates = new();

    [Fact]
    public async Task A_pause_through_one_replica_holds_every_replicas_callbacks_and_a_resume_through_another_releases_them_paced()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        // Drops published before the pause come due while it lasts.
        settings["Switching:GracePeriod"] = "00:00:08";
        await using var a = new ServiceHost(settings).Started();
        await using var b = new ServiceHost(settings).Started();
        var pool = new ConcurrentDictionary<string, CallbackCommand>(StringComparer.Ordinal);
        await using var onA = new EmulatedSwitch(TestSwitch.Pool(a, "on-a", pool, Rate));
        await using var onB = new EmulatedSwitch(TestSwitch.Pool(b, "on-b", pool, Rate));
        using var stop = new CancellationTokenSource();
        var running = Task.WhenAll(onA.RunAsync(stop.Token), onB.RunAsync(stop.Token));
        await Eventually.TrueAsync(() => onA.IsConnected && onB.IsConnected, "both instances connected");

        const int drops = 40;
        await Task.WhenAll(Enumerable.Range(0, drops).Select(i => scenario.PublishAsync(Scenario.Drop($"call-{i}", scenario.Number(i), scenario.Number(1000 + i)))));
        using var throughA = _certificates.Client(a, "ops-1", "rollout:read rollout:write");
        using (var paused = await throughA.PutAsJsonAsync(new Uri("/v1/rollout", UriKind.Relative), new { paused = true, reason = "switch upgrade at MSC north" }))
        {
            Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        }

        // Every recovery decided and come due while paused; nothing reached the switch through either replica.
        await Eventually.TrueAsync(async () =>
        {
            var recoveries = await Task.WhenAll(Enumerable.Range(0, drops).Select(i => scenario.RecoveryAsync($"call-{i}")));
            return recoveries.All(r => r is { State: RecoveryState.Pending } && r.DueAt < DateTimeOffset.UtcNow - TimeSpan.FromSeconds(2));
        }, "every recovery due for two seconds and still queued");
        Assert.Empty(onA.Received);
        Assert.Empty(onB.Received);

        // The other replica tells the same, in its API, its readiness details and its gauge's source.
        using var throughB = _certificates.Client(b, "ops-1", "rollout:read rollout:write");
        var state = await throughB.GetFromJsonAsync<JsonElement>(new Uri("/v1/rollout", UriKind.Relative));
        Assert.True(state.GetProperty("paused").GetBoolean());
        Assert.Equal("ops-1", state.GetProperty("by").GetString());
        Assert.Equal("switch upgrade at MSC north", state.GetProperty("reason").GetString());
        using (var ready = await b.CreateHttpClient().GetAsync(new Uri("/health/ready", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Contains("callbacks: Degraded: callbacks paused by ops-1", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Resumed through the other replica: every held callback goes, never more than the switch's rate in a second.
        using (var resumed = await throughB.PutAsJsonAsync(new Uri("/v1/rollout", UriKind.Relative), new { paused = false, reason = "upgrade done" }))
        {
            Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
            var after = await resumed.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(after.GetProperty("before").GetProperty("paused").GetBoolean());
            Assert.False(after.GetProperty("paused").GetBoolean());
        }

        await Eventually.TrueAsync(() => pool.Count == drops, "every held callback placed after the resume", TimeSpan.FromMinutes(2));
        var arrivals = onA.Placements.Concat(onB.Placements).Select(p => p.At).Order().ToList();
        var busiest = arrivals.Select((t, i) => arrivals.Skip(i).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count()).Max();
        Assert.True(busiest <= Rate, $"the busiest second at the switch after the resume carried {busiest} commands, declared {Rate}");

        // The audit: newest first, who, from where, what it was.
        var audit = await throughA.GetFromJsonAsync<JsonElement>(new Uri("/v1/rollout", UriKind.Relative));
        var changes = audit.GetProperty("changes").EnumerateArray().ToList();
        Assert.Equal(2, changes.Count);
        Assert.False(changes[0].GetProperty("paused").GetBoolean());
        Assert.True(changes[0].GetProperty("wasPaused").GetBoolean());
        Assert.Equal("upgrade done", changes[0].GetProperty("reason").GetString());
        Assert.True(changes[1].GetProperty("paused").GetBoolean());
        Assert.All(changes, c => Assert.Equal("ops-1", c.GetProperty("by").GetString()));
        Assert.All(changes, c => Assert.Equal("127.0.0.1", c.GetProperty("from").GetString()));
        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Only_an_operator_with_the_scope_can_pause_and_never_anonymously()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        await using var service = new ServiceHost(settings).Started();
        var pause = new { paused = true, reason = "testing" };

        using var anonymous = service.CreateHttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PutAsJsonAsync(new Uri("/v1/rollout", UriKind.Relative), pause)).StatusCode);
        using var reader = _certificates.Client(service, "ops-1", "rollout:read calls:read");
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PutAsJsonAsync(new Uri("/v1/rollout", UriKind.Relative), pause)).StatusCode);
        Assert.False((await reader.GetFromJsonAsync<JsonElement>(new Uri("/v1/rollout", UriKind.Relative))).GetProperty("paused").GetBoolean());
        using var writer = _certificates.Client(service, "ops-1", "rollout:write");
        Assert.Equal(HttpStatusCode.BadRequest, (await writer.PutAsJsonAsync(new Uri("/v1/rollout", UriKind.Relative), new { paused = true })).StatusCode);
        // The operator with the scope pauses; the reader sees it.
        Assert.Equal(HttpStatusCode.OK, (await writer.PutAsJsonAsync(new Uri("/v1/rollout", UriKind.Relative), pause)).StatusCode);
        Assert.True((await reader.GetFromJsonAsync<JsonElement>(new Uri("/v1/rollout", UriKind.Relative))).GetProperty("paused").GetBoolean());
    }

    public void Dispose() => _certificates.Dispose();

}
