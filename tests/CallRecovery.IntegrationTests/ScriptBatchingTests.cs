using System.Globalization;
using CallRecovery.IntegrationTests.Fixtures;
using StackExchange.Redis;
using CallRecovery.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Many calls of one script sent as one run against a real redis-server: every call gets its own reply, and a call
/// that fails fails alone, exactly as if each had been sent on its own.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class ScriptBatchingTests(Infrastructure infrastructure) : IAsyncLifetime
{
    // Adds ARGV[1] to a counter and returns it; fails (a Redis error) when ARGV[1] is not a number.
    private static readonly RedisScript Add = new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    private readonly string _prefix = "batch-" + Guid.NewGuid().ToString("N")[..8];
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_failing_call_in_a_many_run_fails_alone_and_the_others_take_effect()
    {
        var db = _redis.GetDatabase();
        ScriptCall Call(int i, string amount) => new([$"{_prefix}:{i}"], [amount]);

        var replies = await db.EvaluateEachOnItsOwnAsync(Add, [Call(0, "5"), Call(1, "not a number"), Call(2, "7"), Call(0, "1")]);

        Assert.Equal(5, (long)replies[0]);
        Assert.Equal(ResultType.Error, replies[1].Resp2Type);
        Assert.Equal(7, (long)replies[2]);
        Assert.Equal(6, (long)replies[3]);
        Assert.False(await db.KeyExistsAsync($"{_prefix}:1"));
        await Assert.ThrowsAsync<RedisServerException>(() => db.EvaluateEachAsync(Add, [Call(3, "1"), Call(4, "x")]));
        Assert.Equal(1, (long)await db.StringGetAsync($"{_prefix}:3"));
    }

    [Fact]
    public async Task Concurrent_callers_each_get_their_own_reply_or_error_from_the_batcher()
    {
        // Adds ARGV[1] to a counter and answers with the caller's own tag (ARGV[2]).
        var batcher = new ScriptBatcher(() => _redis.GetDatabase(), new RedisScript("redis.call('INCRBY', KEYS[1], ARGV[1]) return ARGV[2]"));
        const int callers = 2_000;

        var calls = Enumerable.Range(0, callers)
            .Select(i => batcher.EvaluateAsync([$"{_prefix}:c{i % 10}"], [i % 100 == 99 ? "bad" : "1", $"caller-{i}"]))
            .ToArray();
        await Assert.ThrowsAsync<RedisServerException>(() => Task.WhenAll(calls));

        Assert.Equal(callers / 100, calls.Count(c => c.Exception?.InnerException is RedisServerException));
        Assert.All(calls.Select((c, i) => (c, i)).Where(x => x.i % 100 != 99), x => Assert.Equal($"caller-{x.i}", (string?)x.c.Result));
        var db = _redis.GetDatabase();
        var totals = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => db.StringGetAsync($"{_prefix}:c{i}")));
        Assert.Equal(callers - (callers / 100), totals.Sum(t => (long)t));
    }

    [Fact]
    public async Task Merged_calls_on_the_same_keys_each_take_effect()
    {
        var batcher = new ScriptBatcher(() => _redis.GetDatabase(), new RedisScript("return redis.call('SADD', KEYS[1], unpack(ARGV))"), mergeSameKeys: true);

        await Task.WhenAll(Enumerable.Range(0, 1_000).Select(i => batcher.EvaluateAsync([$"{_prefix}:set{i % 3}"], [$"m{i}"])));

        var sizes = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => _redis.GetDatabase().SetLengthAsync($"{_prefix}:set{i}")));
        Assert.Equal([334L, 333L, 333L], sizes);
    }

    [Fact]
    public async Task Each_call_of_a_many_run_gets_its_keys_and_arguments_byte_for_byte_as_if_sent_alone()
    {
        // Answers its key count, its keys and its arguments as it got them.
        var echo = new RedisScript("local out = {#KEYS} for _, k in ipairs(KEYS) do out[#out + 1] = k end for _, a in ipairs(ARGV) do out[#out + 1] = a end return out");
        byte[] binary = [0, 255, 13, 10, 0xc4, 0xd9, 0x90, 0];
        var key = (int i) => (RedisKey)$"{{{_prefix}}}:k{i}";
        RedisKey[] Keys(int count) => [.. Enumerable.Range(0, count).Select(key)];
        RedisValue[] Values(int count) => [.. Enumerable.Range(0, count).Select(i => (RedisValue)i)];
        // Every size on both sides of each of the packing's format boundaries: strings of 31/32, 255/256 and
        // 65,535/65,536 bytes; arrays of 15/16 and 65,535/65,536 values; 127/128 and 65,536 keys; runs of 15 and 16
        // calls (the run's outer array holds one more than its calls).
        ScriptCall[] calls =
        [
            new([key(0)], ["", "é€😀", binary, long.MaxValue, -42, 1.5, 0]),
            new([], []),
            new(Keys(200), [new string('x', 31), new string('y', 32), new string('z', 255), new string('z', 256), new string('w', 65_535), new string('w', 65_536)]),
            new(Keys(127), Values(15)),
            new(Keys(128), Values(16)),
            new([key(1)], Values(65_535)),
            new([key(2)], Values(65_536)),
            new(Keys(65_536), ["many keys"]),
            .. Enumerable.Range(0, 8).Select(i => new ScriptCall([key(i)], [$"filler {i}"])),
        ];
        var db = _redis.GetDatabase();

        var alone = await Task.WhenAll(calls.Select(c => db.EvaluateEachAsync(echo, [c])));
        foreach (var run in new[] { calls[..15], calls })
        {
            var together = await db.EvaluateEachAsync(echo, run);

            Assert.Equal(run.Length, together.Length);
            for (var i = 0; i < run.Length; i++)
            {
                var got = ((RedisValue[])together[i]!).Select(v => (byte[]?)v ?? []).ToArray();
                Assert.Equal(1 + run[i].Keys.Length + run[i].Values.Length, got.Length);
                Assert.Equal(((RedisValue[])alone[i][0]!).Select(v => (byte[]?)v ?? []).ToArray(), got);
            }
        }

        var first = (RedisValue[])alone[0][0]!;
        Assert.Equal(binary, (byte[]?)first[4]);
        Assert.Equal("é€😀", (string?)first[3]);
        Assert.Equal(long.MaxValue.ToString(CultureInfo.InvariantCulture), (string?)first[5]);
        Assert.Equal(65_536, ((string?)((RedisValue[])alone[2][0]!)[^1])!.Length);
        Assert.Equal(65_536, (long)((RedisValue[])alone[7][0]!)[0]);

        // A null argument is refused in a run as it is alone (the client does not send one).
        ScriptCall nullArgument = new([key(2)], [RedisValue.Null]);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => db.EvaluateEachAsync(echo, [nullArgument]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => db.EvaluateEachAsync(echo, [calls[0], nullArgument]));
    }

    [Fact]
    public async Task A_many_run_reloads_its_script_after_the_server_forgot_it()
    {
        var db = _redis.GetDatabase();
        await db.EvaluateEachAsync(Add, [new([$"{_prefix}:f"], ["1"]), new([$"{_prefix}:f"], ["1"])]);
        await db.ExecuteAsync("SCRIPT", "FLUSH");

        var replies = await db.EvaluateEachAsync(Add, [new([$"{_prefix}:f"], ["2"]), new([$"{_prefix}:f"], ["3"])]);

        Assert.Equal([4L, 7L], replies.Select(r => (long)r));
    }
}
