using System.Globalization;
using CallRecovery.Decisions;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Policy;
using CallRecovery.Redis;
using CsCheck;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// A subscriber's limits (at most so many recoveries in a rolling window, none within the cool-off of another) as
/// <c>admit_subscriber.lua</c> applies them in a real redis-server, held to the rules written out plainly here, over
/// random runs of drops, replays, late and early drop times and places given back.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class AdmissionWindowTests(Infrastructure infrastructure) : IAsyncLifetime
{
    private static readonly long Start = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private readonly RedisOptions _redisOptions = new() { KeyPrefix = "admit-" + Guid.NewGuid().ToString("N")[..8] };
    private ConnectionMultiplexer _redis = null!;
    private int _subscribers;

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task Every_verdict_and_every_place_held_follow_the_window_and_cool_off_rules()
    {
        var policies = Gen.Select(Gen.Int[1, 3], Gen.OneOf(60, 120), Gen.OneOf(0, 5, 30))
            .Select((most, windowMinutes, coolOffMinutes) => new RecoveryPolicyOptions
            {
                MaxRecoveriesPerWindow = most,
                Window = TimeSpan.FromMinutes(windowMinutes),
                CoolOff = TimeSpan.FromMinutes(coolOffMinutes),
            });
        // A step: a drop of one of a few calls (so some are replays, some come back after their place was given
        // back), from up to three hours before the replica's clock to ten minutes after it (a clock ahead), or a
        // place given back; the clock moves on by up to ten minutes.
        // Drop times on whole minutes or a millisecond after, so two drops often lie exactly a window or a cool-off apart.
        var steps = Gen.Select(Gen.Int[0, 99], Gen.Int[0, 7], Gen.Int[-180, 10], Gen.Int[0, 1], Gen.Int[0, 10])
            .Select((kind, call, dropMinutes, dropMs, advanceMinutes) => new Step(kind < 85, "call-" + call.ToString(CultureInfo.InvariantCulture), (dropMinutes * 60_000L) + dropMs, advanceMinutes));

        await Gen.Select(policies, steps.List[1, 30]).SampleAsync(async sample =>
        {
            var (policy, run) = sample;
            var store = new DecisionStore(_redis, Options.Create(_redisOptions), Options.Create(policy));
            // A subscriber of their own for every run (samples run in parallel, and shrinking runs them again).
            var number = "+4479" + Interlocked.Increment(ref _subscribers).ToString("D8", CultureInfo.InvariantCulture);
            var model = new Window(policy);
            var now = Start;
            foreach (var step in run)
            {
                now += step.AdvanceMinutes * 60_000L;
                var drop = now + step.DropOffsetMs;
                if (step.Admit)
                {
                    var expected = model.Admit(step.CallId, drop, now);
                    var (reason, detail) = (await store.AdmitAsync([(number, step.CallId, DateTimeOffset.FromUnixTimeMilliseconds(drop))], DateTimeOffset.FromUnixTimeMilliseconds(now)))[0];
                    Assert.Equal(expected, (reason, detail));
                }
                else
                {
                    model.Release(step.CallId);
                    await store.ReleaseAsync([(number, step.CallId)]);
                }
            }

            var key = DecisionKeys.For(_redisOptions).SubscriberWindow(number);
            var held = await _redis.GetDatabase().SortedSetRangeByRankWithScoresAsync(key);
            Assert.Equal(model.Places.OrderBy(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)), held.Select(e => (e.Element.ToString(), (long)e.Score)));
            if (held.Length > 0)
            {
                // Every window expires on its own: a window after the latest place admitted (later if that drop's time
                // was ahead of the clock), set as it was admitted, so at most a few seconds of this run have passed since.
                var ttl = await _redis.GetDatabase().KeyTimeToLiveAsync(key);
                Assert.NotNull(ttl);
                Assert.InRange(ttl.Value.TotalMilliseconds, model.KeepMs - 60_000, model.KeepMs);
            }
        }, iter: 1_000);
    }

    private sealed record Step(bool Admit, string CallId, long DropOffsetMs, int AdvanceMinutes);

    /// <summary>The rules, plainly: the places held (call id to drop time) and the verdict for each drop.</summary>
    private sealed class Window(RecoveryPolicyOptions policy)
    {
        private readonly long _window = (long)policy.Window.TotalMilliseconds;
        private readonly long _coolOff = (long)policy.CoolOff.TotalMilliseconds;

        public Dictionary<string, long> Places { get; } = new(StringComparer.Ordinal);

        /// <summary>The expiry the window was last given: a window from the latest admitted drop (from now, for a drop ahead of the clock).</summary>
        public long KeepMs { get; private set; }

        public (DecisionReason, string) Admit(string callId, long drop, long now)
        {
            // Nobody in the window yet: the first place is theirs (unless no recovery is allowed at all).
            if (policy.MaxRecoveriesPerWindow > 0 && Places.Count == 0)
            {
                return Admitted(callId, drop, now);
            }

            // The same call again: admitted again, on the place it has.
            if (Places.ContainsKey(callId))
            {
                return (DecisionReason.Accepted, "replay");
            }

            // Places older than the window (from the earlier of the drop and now) are gone.
            foreach (var gone in Places.Where(p => p.Value < Math.Min(drop, now) - _window).Select(p => p.Key).ToList())
            {
                Places.Remove(gone);
            }

            var inWindow = Places.Values.Count(at => at > drop - _window);
            if (inWindow >= policy.MaxRecoveriesPerWindow)
            {
                return (DecisionReason.RateLimited, $"{inWindow} recoveries in the window");
            }

            // Another place within the cool-off either side: the earliest of them is named.
            var near = Places.Values.Where(at => at > drop - _coolOff && at < drop + _coolOff).Order().ToList();
            if (_coolOff > 0 && near.Count > 0)
            {
                return (DecisionReason.RateLimited, $"cool-off: another recovery {Math.Abs(drop - near[0]) / 1000} s apart");
            }

            return Admitted(callId, drop, now);
        }

        public void Release(string callId) => Places.Remove(callId);

        private (DecisionReason, string) Admitted(string callId, long drop, long now)
        {
            Places[callId] = drop;
            KeepMs = _window + Math.Max(0, drop - now);
            return (DecisionReason.Accepted, string.Empty);
        }
    }
}
