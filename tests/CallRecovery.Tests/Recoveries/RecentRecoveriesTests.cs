using CallRecovery.Contracts.V1;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using CallRecovery.Tests.Fakes;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CallRecovery.Tests.Recoveries;

/// <summary>
/// Two replicas over one store: "here" remembers the recoveries it last read or wrote, "there" does not. The moves
/// that follow one another here are decided without reading the recovery again; a move made there meanwhile is never
/// missed: the write finds the version changed and the move is decided again on the recovery as stored.
/// </summary>
public sealed class RecentRecoveriesTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);

    private readonly InMemoryRecoveryRecords _records = new();
    private readonly FakeTimeProvider _time = new(Now);
    private readonly RecentRecoveries _recent = new(Options.Create(new RedisOptions()));
    private readonly RecoveryMoves _here;
    private readonly RecoveryMoves _there;

    public RecentRecoveriesTests()
    {
        _here = new RecoveryMoves(_records, new RecordingEffects(), Options.Create(new RecoveryPolicyOptions()), _time, recent: _recent);
        _there = new RecoveryMoves(_records, new RecordingEffects(), Options.Create(new RecoveryPolicyOptions()), _time);
    }

    public void Dispose() => _recent.Dispose();

    [Fact]
    public async Task Moves_that_follow_one_another_on_a_replica_do_not_read_the_recovery_again()
    {
        await _here.CreateAsync([Recovery("call-1")]);
        var dispatched = await _here.ApplyAsync(new DispatchMove("call-1", "switch-a", "c1"));
        var accepted = await _here.ApplyAsync(new AcceptMove("call-1", "switch-a", 1, "c1"));

        Assert.Equal((RecoveryVerdict.Applied, RecoveryState.Dispatched), (dispatched.Verdict, dispatched.To));
        Assert.Equal((RecoveryVerdict.Applied, RecoveryState.Acknowledged), (accepted.Verdict, accepted.To));
        Assert.Equal(RecoveryState.Acknowledged, _records.Get("call-1")!.Record.State);
        Assert.Equal(0, _records.Reads);
    }

    [Fact]
    public async Task A_move_another_replica_made_meanwhile_is_seen_and_the_move_decided_again_on_it()
    {
        await _here.CreateAsync([Recovery("call-1")]);
        await _here.ApplyAsync(new DispatchMove("call-1", "switch-a", "c1"));
        // The switch's acceptance reached the other replica.
        await _there.ApplyAsync(new AcceptMove("call-1", "switch-a", 1, "c1"));

        var optOut = await _here.ApplyAsync(new CancelMove("call-1", new PartyBarred("+447700900001", "opted out")));

        Assert.Equal((RecoveryState.Acknowledged, RecoveryState.Cancelled), (optOut.From, optOut.To));
        Assert.True(optOut.Effects.HasFlag(RecoveryEffects.CancelAtSwitch));
        Assert.Equal(1, _records.Conflicts);
        Assert.Equal(RecoveryState.Cancelled, _records.Get("call-1")!.Record.State);
    }

    [Fact]
    public async Task A_move_that_writes_nothing_is_decided_on_the_recovery_as_stored_not_as_the_replica_last_knew_it()
    {
        await _here.CreateAsync([Recovery("call-1")]);
        await _here.ApplyAsync(new DispatchMove("call-1", "switch-a", "c1"));
        await _here.ApplyAsync(new AcceptMove("call-1", "switch-a", 1, "c1"));
        // Elsewhere the customer did not answer: the callback is pending again, for its second try.
        var retried = await _there.ApplyAsync(new OutcomeMove("call-1", "switch-a", Outcome.NoAnswer, Now, TimeSpan.Zero, string.Empty, 4, "leg-2", 1, new RetryPlan(TimeSpan.FromSeconds(1), 3), "c1"));
        Assert.Equal(RecoveryState.Pending, retried.To);

        // The parties reached each other: accepted (as last known here), a call between them is kept (it may be our
        // own reconnect); pending (as stored), it cancels the callback.
        var redial = await _here.ApplyAsync(new CancelMove("call-1", new Redialled("redial", Now, RecoveryMovesTests.Customer, RecoveryMovesTests.Friend)));

        Assert.Equal((RecoveryVerdict.Applied, RecoveryState.Cancelled), (redial.Verdict, redial.To));
        Assert.Equal(RecoveryState.Cancelled, _records.Get("call-1")!.Record.State);
    }

    [Fact]
    public async Task An_ended_recovery_is_forgotten_and_read_again()
    {
        await _here.CreateAsync([Recovery("call-1")]);
        await _here.ApplyAsync(new CancelMove("call-1", new PartyBarred("+447700900001", "opted out")));

        Assert.Null(_recent.Get("call-1"));
        Assert.Equal(RecoveryState.Cancelled, (await _here.ReadForMovesAsync(["call-1"]))[0]!.Record.State);
        Assert.Equal(1, _records.Reads);
    }

    [Fact]
    public void A_full_cache_keeps_the_recoveries_it_learnt_of_last_and_lets_the_earliest_go()
    {
        using var recent = new RecentRecoveries(Options.Create(new RedisOptions { RecentRecoveries = 3 }));
        for (var i = 1; i <= 5; i++)
        {
            recent.Remember($"call-{i}", Stored($"call-{i}", 1));
        }

        // The dispatch of the latest recovery is the move that follows soonest: it must find its recovery here.
        Assert.Equal([false, false, true, true, true], Enumerable.Range(1, 5).Select(i => recent.Get($"call-{i}") is not null));
        // A newer version replaces a known one, an older never does; an ended recovery is forgotten.
        recent.Remember("call-5", Stored("call-5", 3));
        recent.Remember("call-5", Stored("call-5", 2));
        Assert.Equal(3, recent.Get("call-5")!.Version);
        recent.Remember("call-4", Stored("call-4", 2, RecoveryState.Cancelled));
        Assert.Null(recent.Get("call-4"));
        Assert.NotNull(recent.Get("call-3"));
    }

    [Fact]
    public void A_recovery_is_known_for_a_minute_after_it_was_last_read_or_written()
    {
        var time = new FakeTimeProvider(Now);
        using var recent = new RecentRecoveries(Options.Create(new RedisOptions()), time: time);
        recent.Remember("call-1", Stored("call-1", 1));
        recent.Remember("call-2", Stored("call-2", 1));
        time.Advance(TimeSpan.FromSeconds(50));
        recent.Remember("call-2", Stored("call-2", 2));
        time.Advance(TimeSpan.FromSeconds(15));

        Assert.Null(recent.Get("call-1"));
        Assert.Equal(2, recent.Get("call-2")!.Version);
        time.Advance(TimeSpan.FromSeconds(50));
        Assert.Null(recent.Get("call-2"));
    }

    /// <summary>A pending recovery, as the door's own tests build one, filed as a new one is.</summary>
    private static RecoveryRecord Recovery(string callId) =>
        RecoveryMovesTests.Record(callId, RecoveryState.Pending) with { FiledUntil = Now.AddMinutes(19) };

    private static StoredRecovery Stored(string callId, long version, RecoveryState state = RecoveryState.Pending) =>
        new((Recovery(callId) with { State = state }).ToFields().ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal), version);
}
