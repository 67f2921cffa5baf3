// The tests build the exceptions the library throws; its public constructors are marked obsolete for callers, not for this.
#pragma warning disable CS0618

using Confluent.Kafka;
using StackExchange.Redis;

using CallRecovery.Probes;

namespace CallRecovery.Tests.Probes;

public class TransientErrorsTests
{
    [Theory]
    [InlineData("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")]
    [InlineData("NOREPLICAS Not enough good replicas to write.")]
    [InlineData("LOADING Redis is loading the dataset in memory")]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot")]
    public void Redis_temporary_replies_are_transient(string reply) =>
        Assert.True(TransientErrors.IsTransient(new RedisServerException(reply)));

    [Theory]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value")]
    [InlineData("ERR user_script:3: Script attempted to access nonexistent global variable")]
    public void Redis_errors_caused_by_data_are_not_transient(string reply) =>
        Assert.False(TransientErrors.IsTransient(new RedisServerException(reply)));

    [Fact]
    public void A_record_too_large_is_not_transient_but_a_broker_away_is()
    {
        Assert.False(TransientErrors.IsTransient(new KafkaException(ErrorCode.MsgSizeTooLarge)));
        Assert.True(TransientErrors.IsTransient(new KafkaException(ErrorCode.Local_AllBrokersDown)));
    }

    [Fact]
    public void A_description_names_the_failure_never_the_keys_in_its_text()
    {
        var described = TransientErrors.Describe(new RedisServerException("WRONGTYPE key cr:{s:+447700900123}:optout"));
        Assert.Equal("Redis replied WRONGTYPE", described);
        Assert.Equal("Redis timed out", TransientErrors.Describe(new RedisTimeoutException("Timeout awaiting response, command=EVALSHA, key=cr:{s:+447700900123}:recoveries", CommandStatus.Sent)));
    }
}
