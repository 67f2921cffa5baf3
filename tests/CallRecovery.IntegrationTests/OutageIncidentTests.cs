using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The storm guard against a real redis-server, with recovery moves that fail when a test says so: holds and releases
/// of an incident are done however late a retried batch comes, or by the sweep when none comes; an incident starts at
/// its earliest drop, whatever a clock ahead stamps.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class OutageIncidentTests(Infrastructure infrastructure) : IAsyncLifetime
{
    private const string Cell = "234-15-dead-02";
    private readonly string _prefix = "oi-" + Guid.NewGuid().ToString("N")[..8];
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private ConnectionMultiplexer _redis = null!;
    private FailingRecords _records = null!;
    private RecoveryMoves _moves = null!;
    private OutageGuard _guard = null!;
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);
        var redisOptions = Options.Create(new RedisOptions { ConnectionString = infrastructure.Redis.ConnectionString, KeyPrefix = _prefix });
        _records = new FailingRecords(new RedisRecoveryRecords(_redis, redisOptions));
        _moves = new RecoveryMoves(_records, new NoEffects(), Options.Create(new RecoveryPolicyOptions()), _time);
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _guard = new OutageGuard(_redis, redisOptions, Options.Create(new OutageOptions { CellThreshold = 20, NodeThreshold = 100_000 }), _moves,
            new CallRecoveryTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), _time, NullLogger<OutageGuard>.Instance);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Holding_the_calls_before_a_declaration_is_done_when_the_batch_is_retried_after_the_window()
    {
        // 19 drops decided in earlier batches: queued, not yet sent.
        var earlier = await CreateAsync(19);
        Assert.Empty((await _guard.CountAsync([.. earlier.Select(Drop)])).Declared);

        // The 20th declares the incident; holding the 19 fails (Redis away just then), so the batch fails.
        var twentieth = Drop((await CreateAsync(1, first: 19, held: true)).Single());
        var count = await _guard.CountAsync([twentieth]);
        var incident = Assert.Single(count.Declared).IncidentId;
        _records.Failing = true;
        await Assert.ThrowsAsync<RedisConnectionException>(() => _guard.HoldDeclaredAsync(count));
        _records.Failing = false;

        // Retried after the 10 s window has let go of the 19: they are still the incident's, and are held now.
        _time.Advance(TimeSpan.FromSeconds(11));
        var retried = await _guard.CountAsync([twentieth]);
        Assert.Equal(incident, Assert.Single(retried.Declared).IncidentId);
        await _guard.HoldDeclaredAsync(retried);
        Assert.All(await StatesAsync(earlier), r => Assert.Equal((RecoveryState.Held, incident), (r.State, r.Incident)));

        // And its end releases every one.
        await _guard.EndOnTrafficAsync([new OutageTraffic(new OutageScope(OutageScope.Cell, Cell), _time.GetUtcNow(), "the cell was reported in service", Reported: true)]);
        Assert.All(await StatesAsync(earlier), r => Assert.Equal(RecoveryState.Pending, r.State));
    }

    [Fact]
    public async Task An_ended_incidents_releases_left_unfinished_are_finished_however_late_and_by_any_replica()
    {
        // 19 drops queued, then the 20th declares the incident, which holds them.
        var calls = await CreateAsync(19);
        await _guard.CountAsync([.. calls.Select(Drop)]);
        await _guard.HoldDeclaredAsync(await _guard.CountAsync([Drop((await CreateAsync(1, first: 19)).Single())]));
        Assert.All(await StatesAsync(calls), r => Assert.Equal(RecoveryState.Held, r.State));

        // The cell is back; the replica ending the incident fails while releasing.
        _records.Failing = true;
        await Assert.ThrowsAsync<RedisConnectionException>(() =>
            _guard.EndOnTrafficAsync([new OutageTraffic(new OutageScope(OutageScope.Cell, Cell), _time.GetUtcNow(), "the cell was reported in service", Reported: true)]));
        _records.Failing = false;

        // Minutes later no retry of that batch ever came (its events were decided on another replica); the sweep finishes.
        _time.Advance(TimeSpan.FromMinutes(3));
        await _guard.FinishReleasesAsync();
        Assert.All(await StatesAsync(calls), r => Assert.Equal((RecoveryState.Pending, true), (r.State, r.ReleasedAt is not null)));
    }

    [Fact]
    public async Task An_incident_starts_at_its_earliest_drop_and_a_drop_stamped_in_the_future_does_not_move_it()
    {
        var calls = await CreateAsync(20);
        var now = _time.GetUtcNow();
        // One network element's clock runs four minutes ahead.
        var drops = calls.Select((c, i) => Drop(c) with { DropTime = i == 19 ? now.AddMinutes(4) : now.AddSeconds(-5 + (i * 0.2)) }).ToList();

        var incident = Assert.Single((await _guard.CountAsync(drops)).Declared).IncidentId;
        Assert.True(OutageGuard.TryParseId(incident, out _, out var startMs));
        Assert.Equal(now.AddSeconds(-5).ToUnixTimeMilliseconds(), startMs);

        // So traffic now ends it (it used to start four minutes ahead, where nothing could end it).
        await _guard.EndOnTrafficAsync([new OutageTraffic(new OutageScope(OutageScope.Cell, Cell), now, "the cell was reported in service", Reported: true)]);
        Assert.Equal("ended", (await _guard.GetAsync(incident))!.State);
    }

    [Fact]
    public async Task A_consumer_minutes_behind_still_sees_the_storm_and_a_replay_from_long_ago_declares_nothing()
    {
        // A restart during a storm: the drops of three minutes ago arrive now, within 5 s of each other.
        var calls = await CreateAsync(20);
        var now = _time.GetUtcNow();
        var late = calls.Select((c, i) => Drop(c) with { DropTime = now.AddMinutes(-3).AddSeconds(i * 0.25) }).ToList();
        var incident = Assert.Single((await _guard.CountAsync(late)).Declared).IncidentId;
        Assert.True(OutageGuard.TryParseId(incident, out _, out var startMs));
        Assert.Equal(now.AddMinutes(-3).ToUnixTimeMilliseconds(), startMs);

        // The same storm replayed from a day ago (a consumer group reset to the start of the topic) declares nothing.
        var replayed = await CreateAsync(20, first: 100);
        Assert.Empty((await _guard.CountAsync([.. replayed.Select((c, i) => Drop(c) with { ServingCell = "234-15-dead-03", DropTime = now.AddDays(-1).AddSeconds(i * 0.25) })])).Declared);
    }

    [Fact]
    public async Task A_call_queued_before_is_held_when_a_later_report_of_it_comes_with_the_declaration_and_only_filed_calls_are_held_by_it()
    {
        // 19 calls queued (earlier batches counted them).
        var earlier = await CreateAsync(19);
        Assert.Empty((await _guard.CountAsync([.. earlier.Select(Drop)])).Declared);

        // The batch that declares the incident carries the 20th call, another report of the first (its other leg), and
        // a drop from long before the window (a late report of a call of the minute before).
        var now = _time.GetUtcNow();
        var twentieth = (await CreateAsync(1, first: 19, held: true)).Single();
        var old = (await CreateAsync(1, first: 50)).Single();
        var count = await _guard.CountAsync([Drop(twentieth), Drop(earlier[0]) with { EventId = "e-out-0/callee" }, Drop(old) with { DropTime = now.AddSeconds(-40) }]);
        var incident = Assert.Single(count.Declared).IncidentId;
        Assert.False(count.IncidentOfCall.ContainsKey(old), "a drop before the window is not the incident's: it is not created held");

        await _guard.HoldDeclaredAsync(count);
        Assert.All(await StatesAsync([.. earlier, twentieth]), r => Assert.Equal((RecoveryState.Held, incident), (r.State, r.Incident)));
        Assert.Equal(RecoveryState.Pending, (await StatesAsync([old])).Single().State);

        // Its end releases all it holds.
        await _guard.EndOnTrafficAsync([new OutageTraffic(new OutageScope(OutageScope.Cell, Cell), _time.GetUtcNow(), "the cell was reported in service", Reported: true)]);
        Assert.All(await StatesAsync([.. earlier, twentieth]), r => Assert.Equal(RecoveryState.Pending, r.State));
    }

    [Fact]
    public async Task A_drop_while_the_incident_is_open_is_held_by_it_even_once_the_window_holds_fewer_drops_than_the_threshold()
    {
        var storm = await CreateAsync(20);
        var declared = await _guard.CountAsync([.. storm.Select(Drop)]);
        var incident = Assert.Single(declared.Declared).IncidentId;
        await _guard.HoldDeclaredAsync(declared);

        // Half a minute on (the window is 10 s): the cell is still down, and its next drop is the incident's, not one
        // of a window of one.
        _time.Advance(TimeSpan.FromSeconds(30));
        var later = (await CreateAsync(1, first: 20)).Single();
        var count = await _guard.CountAsync([Drop(later)]);
        Assert.Empty(count.Declared);
        Assert.Equal(incident, count.IncidentOfCall.GetValueOrDefault(later));
    }

    private CallDrop Drop(string callId) => new(
        "e-" + callId, callId, "+441110000001", "+441110000002", Contracts.V1.Party.Caller, new ReleaseCauseKey("q850:41"),
        _time.GetUtcNow().AddMinutes(-2), _time.GetUtcNow().AddSeconds(-1), Cell, "msc-test", Contracts.V1.AccessTechnology.Eutran, false, "test");

    private async Task<IReadOnlyList<string>> CreateAsync(int count, int first = 0, bool held = false)
    {
        var ids = Enumerable.Range(first, count).Select(i => $"out-{i}").ToList();
        var now = _time.GetUtcNow();
        await _moves.CreateAsync([.. ids.Select(id => new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(id),
            CallId = id,
            State = held ? RecoveryState.Held : RecoveryState.Pending,
            Hold = held ? RecoveryLifecycle.HoldForOutage : string.Empty,
            CallBack = "+441110000001",
            OtherParty = "+441110000002",
            DropTime = now.AddSeconds(-1),
            AcceptedAt = now,
            EventId = "e-" + id,
            SwitchId = "switch-a",
            DueAt = now.AddSeconds(20),
            Deadline = now.AddMinutes(5),
        })]);
        return ids;
    }

    private async Task<IReadOnlyList<RecoveryRecord>> StatesAsync(IReadOnlyList<string> calls) =>
        [.. (await _moves.ReadAsync(calls)).Select(s => s!.Record)];

    /// <summary>The Redis records, failing every write while <see cref="Failing"/> (as when Redis goes away mid-batch).</summary>
    private sealed class FailingRecords(IRecoveryRecords inner) : IRecoveryRecords
    {
        public volatile bool Failing;

        public Task<IReadOnlyList<StoredRecovery?>> ReadAsync(IReadOnlyList<string> callIds) => inner.ReadAsync(callIds);

        public Task<RecordWrite> WriteAsync(string callId, long version, IReadOnlyList<KeyValuePair<string, string>> writes) =>
            Failing ? throw new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "test: Redis away") : inner.WriteAsync(callId, version, writes);

        public Task<(StoredRecovery Stored, bool Created)> CreateAsync(RecoveryRecord recovery) => inner.CreateAsync(recovery);
    }
}
