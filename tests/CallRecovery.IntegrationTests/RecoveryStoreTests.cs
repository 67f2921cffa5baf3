using CallRecovery.Delivery;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The recoveries' Redis data against a real redis-server: the records the door writes (at the version read, or not at
/// all), every move of the table through the door on them, and a switch's queue (what a claim takes, when the next
/// command is due).
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class RecoveryStoreTests(Infrastructure infrastructure) : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    private readonly string _prefix = "rs-" + Guid.NewGuid().ToString("N")[..8];
    private ConnectionMultiplexer _redis = null!;
    private RedisRecoveryRecords _records = null!;
    private SwitchQueues _queues = null!;
    private int _calls;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);
        var options = Options.Create(new RedisOptions { ConnectionString = infrastructure.Redis.ConnectionString, KeyPrefix = _prefix });
        _records = new RedisRecoveryRecords(_redis, options);
        _queues = new SwitchQueues(_redis, options);
    }

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_write_lands_only_at_the_version_read_and_otherwise_returns_the_recovery_as_it_is_now()
    {
        var (stored, created) = await _records.CreateAsync(Record(NextCall()));
        Assert.True(created);
        Assert.Equal(1, stored.Version);

        Assert.True((await _records.WriteAsync(stored.Record.CallId, 1, [new(RecoveryFields.State, nameof(RecoveryState.Dispatched))])).Written);
        var late = await _records.WriteAsync(stored.Record.CallId, 1, [new(RecoveryFields.State, nameof(RecoveryState.Cancelled))]);

        Assert.False(late.Written);
        Assert.Equal((2L, RecoveryState.Dispatched), (late.Current!.Version, late.Current.Record.State));
        Assert.False((await _records.WriteAsync("no-such-call", 1, [new(RecoveryFields.State, "Pending")])).Written);
        Assert.Null((await _records.WriteAsync("no-such-call", 1, [new(RecoveryFields.State, "Pending")])).Current);
    }

    [Fact]
    public async Task The_first_creation_of_a_calls_recovery_wins_and_a_second_finds_it()
    {
        var callId = NextCall();
        await _records.CreateAsync(Record(callId));
        var (again, created) = await _records.CreateAsync(Record(callId) with { EventId = "another-report", SwitchId = "switch-z" });

        Assert.False(created);
        Assert.Equal(("e1", "switch-a"), (again.Record.EventId, again.Record.SwitchId));
        Assert.True(await _redis.GetDatabase().KeyTimeToLiveAsync(new RecoveryKeys(new RedisKeys(_prefix)).Recovery(callId)) > TimeSpan.FromDays(6));
    }

    [Fact]
    public async Task A_recovery_stored_before_versions_were_written_is_at_version_zero()
    {
        var callId = NextCall();
        var key = new RecoveryKeys(new RedisKeys(_prefix)).Recovery(callId);
        await _redis.GetDatabase().HashSetAsync(key, [.. Record(callId).ToFields().Select(f => new HashEntry(f.Key, f.Value))]);

        var stored = Assert.Single(await _records.ReadAsync([callId]))!;
        Assert.Equal(0, stored.Version);
        Assert.True((await _records.WriteAsync(callId, 0, [new(RecoveryFields.State, nameof(RecoveryState.Dispatched))])).Written);
        Assert.Equal(1, Assert.Single(await _records.ReadAsync([callId]))!.Version);
    }

    public static TheoryData<RecoveryState, RecoveryTrigger> SomePairs() => new()
    {
        { RecoveryState.Pending, RecoveryTrigger.Dispatch },
        { RecoveryState.Dispatched, RecoveryTrigger.Accept },
        { RecoveryState.Acknowledged, RecoveryTrigger.Progress },
        { RecoveryState.Acknowledged, RecoveryTrigger.Outcome },
        { RecoveryState.Held, RecoveryTrigger.Cancel },
        { RecoveryState.Completed, RecoveryTrigger.Outcome },
    };

    [Theory]
    [MemberData(nameof(SomePairs))]
    public async Task The_door_on_Redis_makes_the_move_the_table_allows(RecoveryState from, RecoveryTrigger trigger)
    {
        var moves = new RecoveryMoves(_records, new NoEffects(), Options.Create(new RecoveryPolicyOptions()), TimeProvider.System);
        var callId = NextCall();
        var (stored, _) = await _records.CreateAsync(Record(callId));
        await _records.WriteAsync(callId, stored.Version, [new(RecoveryFields.State, from.ToString()), new(RecoveryFields.Attempts, "1"), new(RecoveryFields.AcceptedAttempt, "1")]);
        RecoveryMove move = trigger switch
        {
            RecoveryTrigger.Dispatch => new DispatchMove(callId, "switch-a", "c1"),
            RecoveryTrigger.Accept => new AcceptMove(callId, "switch-a", 1, "c1"),
            RecoveryTrigger.Progress => new ProgressMove(callId, "switch-a", Contracts.V1.Stage.CustomerRinging, Now, 0, "c1"),
            RecoveryTrigger.Outcome => new OutcomeMove(callId, "switch-a", Contracts.V1.Outcome.Reconnected, Now, TimeSpan.FromSeconds(60), string.Empty, 5, "leg-2", 0, null, "c1"),
            _ => new CancelMove(callId, new PartyBarred("+441110000001", "opted out")),
        };

        var transition = await moves.ApplyAsync(move);

        var rule = RecoveryLifecycle.Rule(from, trigger);
        Assert.Equal(rule.To is null ? RecoveryVerdict.Unchanged : RecoveryVerdict.Applied, transition.Verdict);
        Assert.Equal(rule.To ?? from, Assert.Single(await _records.ReadAsync([callId]))!.Record.State);
        Assert.Equal(rule.Effects, transition.Effects);
    }

    [Fact]
    public async Task A_claim_takes_what_is_due_and_says_when_the_next_command_is_due()
    {
        var deadline = Now.AddHours(1);
        await _queues.EnqueueAsync("switch-q",
        [
            new QueuedCommand("due-now", Now.AddSeconds(-1), deadline, Move: false),
            new QueuedCommand("due-soon", Now.AddMilliseconds(100), deadline, Move: false),
            new QueuedCommand("due-later", Now.AddSeconds(5), deadline, Move: false),
        ]);

        var first = await _queues.ClaimDueAsync("switch-q", 10, Now, TimeSpan.FromSeconds(30));
        var second = await _queues.ClaimDueAsync("switch-q", 10, Now.AddMilliseconds(200), TimeSpan.FromSeconds(30));
        var third = await _queues.ClaimDueAsync("switch-q", 10, Now.AddSeconds(6), TimeSpan.FromSeconds(30));

        // Unpaced (no rate): no slot to keep, the command is written as soon as the round gets to it.
        Assert.Equal([("due-now", (DateTimeOffset?)null)], first.Claimed);
        Assert.Equal(Now.AddMilliseconds(100), first.NextDue);
        Assert.Equal(["due-soon"], second.Claimed.Select(c => c.CallId));
        Assert.Equal(Now.AddSeconds(5), second.NextDue);
        Assert.Equal(["due-later"], third.Claimed.Select(c => c.CallId));
        Assert.Null(third.NextDue);
    }

    [Fact]
    public async Task A_claim_limited_by_the_window_leaves_the_rest_due_and_says_so()
    {
        await _queues.EnqueueAsync("switch-w", [.. Enumerable.Range(0, 1_200).Select(i => new QueuedCommand($"c{i}", Now.AddMilliseconds(-i - 1), Now.AddHours(1), Move: false))]);

        var claimed = await _queues.ClaimDueAsync("switch-w", 1_100, Now, TimeSpan.FromSeconds(30));

        Assert.Equal(1_100, claimed.Claimed.Count);
        Assert.True(claimed.NextDue <= Now, "the commands left are due already");
        Assert.Equal((100L, 1_100L), await _queues.QueueLengthsAsync("switch-w"));
    }

    [Fact]
    public async Task A_paced_switchs_commands_get_slots_that_no_second_holds_more_than_the_rate_of_whichever_replica_claims()
    {
        await _queues.EnqueueAsync("switch-p", [.. Enumerable.Range(0, 200).Select(i => new QueuedCommand($"p{i}", Now.AddSeconds(-1), Now.AddHours(1), Move: false))]);

        // Two replicas claim in turns, as their dispatch rounds come, for 3 s.
        var slots = new List<DateTimeOffset>();
        for (var t = Now; t < Now.AddSeconds(3); t = t.AddMilliseconds(37))
        {
            slots.AddRange((await _queues.ClaimDueAsync("switch-p", 32, t, TimeSpan.FromSeconds(5), admissionRate: 40)).Claimed.Select(c => c.SendAt!.Value));
        }

        // About 39 a second (the tolerance spaces them a little more than the rate) over the 3 s and the slots claimed ahead.
        Assert.InRange(slots.Count, 100, 135);
        Assert.All(slots.Zip(slots.Skip(1)), pair => Assert.True(pair.Second - pair.First >= TimeSpan.FromMilliseconds(25)));
        // Written within the tolerance after its slot (the worst: the first of every second late by all of it, the rest on time).
        var busiest = slots.Max(s => slots.Count(o => o >= s - Pace.Tolerance && o < s - Pace.Tolerance + TimeSpan.FromSeconds(1)));
        Assert.True(busiest <= 40, $"{busiest} slots in a second and its tolerance");
    }

    [Fact]
    public async Task Scheduling_again_never_disturbs_a_command_in_flight_or_waiting_out_a_rejection()
    {
        var deadline = Now.AddHours(1);
        await _queues.EnqueueAsync("switch-r", [new QueuedCommand("sent", Now, deadline, Move: false), new QueuedCommand("backing-off", Now.AddSeconds(5), deadline, Move: false)]);
        await _queues.ClaimDueAsync("switch-r", 1, Now, TimeSpan.FromSeconds(30));

        // A replay (or a repeated release) makes sure each is queued, nothing more.
        await _queues.EnqueueAsync("switch-r", [new QueuedCommand("sent", Now, deadline, Move: false), new QueuedCommand("backing-off", Now, deadline, Move: false)]);

        Assert.Equal((1L, 1L), await _queues.QueueLengthsAsync("switch-r"));
        Assert.Equal(Now.AddSeconds(5).ToUnixTimeMilliseconds(), (long)(await _redis.GetDatabase().SortedSetScoreAsync(new DeliveryKeys(new RedisKeys(_prefix)).Due("switch-r"), "backing-off"))!);
    }

    [Fact]
    public async Task A_vulnerable_customers_command_is_claimed_before_every_other_due_one_and_stays_first_when_given_back()
    {
        var deadline = Now.AddHours(1);
        await _queues.EnqueueAsync("switch-v", [.. Enumerable.Range(0, 50).Select(i => new QueuedCommand($"n{i}", Now.AddSeconds(-10 + (i * 0.01)), deadline, Move: false))]);
        await _queues.EnqueueAsync("switch-v", [new QueuedCommand("flagged", Now.AddMilliseconds(-1), deadline, Move: false, Priority: true)]);

        // Due last of all, claimed first, and given the earliest slot of the pace.
        var first = await _queues.ClaimDueAsync("switch-v", 3, Now, TimeSpan.FromSeconds(30), admissionRate: 10);
        Assert.Equal(["flagged", "n0"], first.Claimed.Select(c => c.CallId));
        Assert.True(first.Claimed[0].SendAt < first.Claimed[1].SendAt);

        // Given back (its connection broke): first again at the next claim, ahead of the 49 still due.
        await _queues.RequeueAsync("switch-v", ["flagged", "n0"], Now);
        var again = await _queues.ClaimDueAsync("switch-v", 1, Now.AddSeconds(1), TimeSpan.FromSeconds(30));
        Assert.Equal(["flagged"], again.Claimed.Select(c => c.CallId));
        Assert.Equal((50L, 1L), await _queues.QueueLengthsAsync("switch-v"));

        // Settled: out of its queue and of the flagged set.
        await _queues.SettleAsync("switch-v", ["flagged"]);
        Assert.Equal(0, await _redis.GetDatabase().SetLengthAsync(new DeliveryKeys(new RedisKeys(_prefix)).PriorityCalls("switch-v")));
    }

    [Fact]
    public async Task A_replica_forgets_the_recoveries_it_remembered_when_its_connection_to_Redis_fails_and_when_it_comes_back()
    {
        // A Redis of its own, to fail: a failover or a crash may lose writes this replica remembers as stored.
        await using var server = await RedisServer.StartNewAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},abortConnect=false,connectTimeout=1000,connectRetry=1");
        using var recent = new RecentRecoveries(Options.Create(new RedisOptions()), connection);
        var stored = StoredRecovery.Of(Record(NextCall()).ToFields().ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal));
        recent.Remember("call-a", stored);
        Assert.NotNull(recent.Get("call-a"));

        // Bounded well inside the minute an entry is kept anyway, so expiry cannot pass for forgetting.
        var soon = TimeSpan.FromSeconds(20);
        await server.StopAsync();
        await Eventually.TrueAsync(() => recent.Get("call-a") is null, "forgotten when the connection failed", soon);

        // Remembered while Redis was away (a read that raced the failure): forgotten again when the connection is back.
        recent.Remember("call-b", stored);
        await server.StartAsync();
        await Eventually.TrueAsync(() => connection.IsConnected && recent.Get("call-b") is null, "forgotten when the connection came back", soon);
        recent.Remember("call-c", stored);
        Assert.NotNull(recent.Get("call-c"));
    }

    private string NextCall() => $"call-{Interlocked.Increment(ref _calls)}";

    private static RecoveryRecord Record(string callId) => new()
    {
        RecoveryId = RecoveryIds.For(callId),
        CallId = callId,
        State = RecoveryState.Pending,
        CallBack = "+441110000001",
        OtherParty = "+441110000002",
        DropTime = Now.AddMinutes(-1),
        AcceptedAt = Now.AddMinutes(-1),
        EventId = "e1",
        SwitchId = "switch-a",
        DueAt = Now.AddSeconds(-40),
        Deadline = Now.AddMinutes(4),
    };
}
