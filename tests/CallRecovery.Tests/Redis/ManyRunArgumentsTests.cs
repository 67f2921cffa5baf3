using CallRecovery.Redis;
using StackExchange.Redis;

namespace CallRecovery.Tests.Redis;

/// <summary>
/// A many-run's packed arguments (what Redis's cmsgpack reads is checked against a real redis-server in
/// ScriptBatchingTests): the layout, and the limit above which a run is not packed.
/// </summary>
public sealed class ManyRunArgumentsTests
{
    private static readonly ScriptCall[] Calls = [new(["k1", "k2"], ["abc"]), new([], [7])];

    [Fact]
    public void The_calls_key_counts_come_first_then_each_calls_arguments_as_strings()
    {
        using var packed = ManyRunArguments.Pack(Calls, [0, 1]);

        // [[2, 0], ["abc"], ["7"]]: a fixarray of 3, the counts, then each call's arguments as fixstr.
        Assert.Equal(
            [0x93, 0x92, 0x02, 0x00, 0x91, 0xa3, (byte)'a', (byte)'b', (byte)'c', 0x91, 0xa1, (byte)'7'],
            ((ReadOnlyMemory<byte>)packed!.Value).ToArray());
    }

    [Fact]
    public void A_run_that_could_take_more_than_the_limit_is_not_packed()
    {
        // The bound: 5 bytes per header (outer array, counts array, two counts, two argument arrays, two strings) and
        // the strings' 4 bytes.
        const int bound = (5 * 8) + 4;

        Assert.Null(ManyRunArguments.Pack(Calls, [0, 1], mostBytes: bound - 1));
        using var packed = ManyRunArguments.Pack(Calls, [0, 1], mostBytes: bound);
        Assert.NotNull(packed);
    }

    [Fact]
    public void A_null_argument_is_refused_as_the_client_refuses_it_alone() =>
        Assert.Throws<ArgumentException>(() => ManyRunArguments.Pack([new(["k"], [RedisValue.Null])], [0]));
}
