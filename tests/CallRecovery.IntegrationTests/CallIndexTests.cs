using System.Globalization;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Policy;
using CallRecovery.Redis;
using CallRecovery.Subscribers;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The engineers' index of a subscriber's dropped calls (a real redis-server): whatever batches the calls were indexed
/// in, and however many reports named each, a subscriber's lookup lists each of their calls (as caller or callee)
/// once, newest first (the latest report's drop time; equal times by call id, descending), at most as many as asked;
/// never a call of another subscriber, not even one whose number begins with theirs; with or without a key secret.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class CallIndexTests(Infrastructure infrastructure) : IAsyncLifetime
{
    // Numbers that begin with one another and share the index's shard (found through the key scheme, not by luck: a
    // range that took in a longer number would list its calls), and one of another shard.
    private static readonly string[] Numbers = [.. SharingAShard("+4479001", 4), "+15550001"];
    private static readonly bool[] Legs = [false, true];
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_subscribers_lookup_lists_their_calls_once_each_newest_first_whatever_batches_indexed_them()
    {
        // A call: caller, callee, its first report's drop time (seconds before now, over three days) and, maybe, a
        // second report (the other leg) a few seconds later or at the same time.
        var call = Gen.Select(Gen.Int[0, Numbers.Length - 1], Gen.Int[1, Numbers.Length - 1], Gen.Int[0, 3 * 86_400], Gen.Int[-1, 5]);
        await Gen.Select(call.List[1, 40], Gen.Int[1, 12], Gen.Int[1, 30], Gen.Bool).SampleAsync(async sample =>
        {
            var (calls, batchSize, most, secret) = sample;
            var now = DateTimeOffset.UtcNow;
            var facts = Facts(secret);
            var reports = new List<(string Number, string CallId, DateTimeOffset DropTime)>();
            var model = Numbers.ToDictionary(n => n, _ => new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal), StringComparer.Ordinal);
            // First reports in call order, then the second ones: a later report of a call is indexed after an earlier one.
            foreach (var second in Legs)
            {
                for (var c = 0; c < calls.Count; c++)
                {
                    var (caller, callee, ago, again) = calls[c];
                    if (second && again < 0)
                    {
                        continue;
                    }

                    var callId = "call-" + c.ToString(CultureInfo.InvariantCulture);
                    var dropTime = DateTimeOffset.FromUnixTimeMilliseconds(now.AddSeconds(-ago).ToUnixTimeMilliseconds() / 1_000 * 1_000).AddSeconds(second ? again : 0);
                    var (a, b) = (Numbers[caller], Numbers[(caller + callee) % Numbers.Length]);
                    reports.Add((a, callId, dropTime));
                    reports.Add((b, callId, dropTime));
                    model[a][callId] = dropTime;
                    model[b][callId] = dropTime;
                }
            }

            foreach (var batch in reports.Chunk(batchSize * 2))
            {
                await facts.IndexCallsAsync(batch);
            }

            foreach (var number in Numbers)
            {
                var expected = model[number].OrderByDescending(e => e.Value).ThenByDescending(e => e.Key, StringComparer.Ordinal).Take(most).Select(e => e.Key).ToList();
                Assert.Equal(expected, await facts.CallsOfAsync(number, most));
            }
        }, iter: 150);
    }

    [Fact]
    public async Task Calls_indexed_under_a_subscriber_before_the_shared_index_are_still_listed_with_the_later_ones()
    {
        // What replicas before 2026-12-07 wrote: a sorted set per subscriber (call id scored by drop time), kept for
        // the retention; a replica of this version lists those calls beside the ones it indexed itself.
        var options = new RedisOptions { KeyPrefix = "calls-" + Guid.NewGuid().ToString("N")[..8] };
        var facts = Facts(secret: false, options);
        var now = DateTimeOffset.UtcNow;
        var number = Numbers[2];
        await _redis.GetDatabase().SortedSetAddAsync(SubscriberKeys.For(options).Calls(number),
            [new SortedSetEntry("old-1", now.AddDays(-2).ToUnixTimeMilliseconds()), new SortedSetEntry("old-2", now.AddMinutes(-5).ToUnixTimeMilliseconds())]);
        await _redis.GetDatabase().KeyExpireAsync(SubscriberKeys.For(options).Calls(number), TimeSpan.FromDays(7));
        await facts.IndexCallsAsync([(number, "new-1", now.AddHours(-1)), (number, "new-2", now.AddMinutes(-1)), (Numbers[3], "other", now)]);

        Assert.Equal(["new-2", "old-2", "new-1", "old-1"], await facts.CallsOfAsync(number, 10));
        Assert.Equal(["new-2", "old-2"], await facts.CallsOfAsync(number, 2));
    }

    /// <summary><paramref name="number"/> and the first <paramref name="count"/> - 1 numbers beginning with it whose calls the index files in the same shard.</summary>
    private static IEnumerable<string> SharingAShard(string number, int count)
    {
        var keys = SubscriberKeys.For(new RedisOptions());
        var day = new DateOnly(2026, 12, 7);
        var shard = keys.CallIndex(keys.Name(number), day);
        return Enumerable.Range(0, 10_000).Select(n => number + n.ToString(CultureInfo.InvariantCulture))
            .Where(longer => keys.CallIndex(keys.Name(longer), day) == shard).Take(count - 1).Prepend(number);
    }

    private SubscriberFacts Facts(bool secret, RedisOptions? options = null)
    {
        options ??= new RedisOptions { KeyPrefix = "calls-" + Guid.NewGuid().ToString("N")[..8] };
        if (secret)
        {
            options.SubscriberKeySecret = "a-secret-of-at-least-thirty-two-characters";
        }

        var services = new ServiceCollection()
            .AddSingleton<IConnectionMultiplexer>(_redis)
            .AddSingleton(TimeProvider.System)
            .AddSingleton(Options.Create(options))
            .AddSingleton(Options.Create(new RecoveryPolicyOptions()))
            .AddSingleton(Options.Create(new SwitchingOptions()))
            .BuildServiceProvider();
        return ActivatorUtilities.CreateInstance<SubscriberFacts>(services);
    }
}
