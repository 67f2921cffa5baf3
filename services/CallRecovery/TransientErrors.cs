using Confluent.Kafka;
using StackExchange.Redis;

namespace CallRecovery;

/// <summary>
/// Which failures mean "Redis or Kafka is unreachable for now, try again" (retry, report not ready) rather
/// than a defect. One place, used by the consume loop, the dispatcher and the switch API.
/// </summary>
public static class TransientErrors
{
    public static bool IsTransient(Exception e) => e switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        RedisServerException server => server.Message.StartsWith("LOADING", StringComparison.Ordinal)
            || server.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal)
            || server.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
            || server.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
            || server.Message.StartsWith("READONLY", StringComparison.Ordinal),
        KafkaException kafka => !kafka.Error.IsFatal,
        AggregateException aggregate => aggregate.InnerExceptions.All(IsTransient),
        _ => false,
    };

    public static bool IsRedis(Exception e) => e is RedisException || (e is AggregateException a && a.InnerExceptions.Any(IsRedis));
}
