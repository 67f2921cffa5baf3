using CallRecovery.IntegrationTests.Fixtures;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using CallRecovery.Recoveries;
using CallRecovery.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>A switch's queue against a real redis-server: what a claim takes, and when it says the next command is due.</summary>
[Collection(RealInfrastructure.Name)]
public sealed class SwitchQueueScriptTests(Infrastructure infrastructure) : IAsyncLifetime
{
    private readonly string _prefix = "queue-" + Guid.NewGuid().ToString("N")[..8];
    private ConnectionMultiplexer _redis = null!;
    private RecoveryStore _store = null!;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);
        _store = new RecoveryStore(_redis, Options.Create(new RedisOptions { ConnectionString = infrastructure.Redis.ConnectionString, KeyPrefix = _prefix }));
    }

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_claim_takes_what_is_due_and_says_when_the_next_command_is_due()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var deadline = now.AddHours(1);
        await _store.ScheduleAsync(
        [
            new ScheduledRecovery("due-now", "switch-q", now.AddSeconds(-1), deadline, "+441110000001", "+441110000002"),
            new ScheduledRecovery("due-soon", "switch-q", now.AddMilliseconds(100), deadline, "+441110000003", "+441110000004"),
            new ScheduledRecovery("due-later", "switch-q", now.AddSeconds(5), deadline, "+441110000005", "+441110000006"),
        ]);

        var first = await _store.ClaimDueAsync("switch-q", 10, now, now.AddSeconds(30));
        var second = await _store.ClaimDueAsync("switch-q", 10, now.AddMilliseconds(200), now.AddSeconds(30));
        var third = await _store.ClaimDueAsync("switch-q", 10, now.AddSeconds(6), now.AddSeconds(30));

        Assert.Equal(["due-now"], first.Claimed);
        Assert.Equal(now.AddMilliseconds(100), first.NextDue);
        Assert.Equal(["due-soon"], second.Claimed);
        Assert.Equal(now.AddSeconds(5), second.NextDue);
        Assert.Equal(["due-later"], third.Claimed);
        Assert.Null(third.NextDue);
    }

    [Fact]
    public async Task A_claim_limited_by_the_window_leaves_the_rest_due_and_says_so()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await _store.ScheduleAsync([.. Enumerable.Range(0, 1_200).Select(i =>
            new ScheduledRecovery($"c{i}", "switch-w", now.AddMilliseconds(-i - 1), now.AddHours(1), $"+4411100{i:D5}", $"+4422200{i:D5}"))]);

        var claimed = await _store.ClaimDueAsync("switch-w", 1_100, now, now.AddSeconds(30));

        Assert.Equal(1_100, claimed.Claimed.Count);
        Assert.True(claimed.NextDue <= now, "the commands left are due already");
        Assert.Equal((100L, 1_100L), await _store.QueueLengthsAsync("switch-w"));
    }
}
