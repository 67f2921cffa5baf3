using Confluent.Kafka;
using StackExchange.Redis;

namespace CallRecovery.Probes;

/// <summary>
/// Which failures mean "Redis or Kafka is unavailable for now, try again" (retry, report not ready) rather
/// than a problem with the data at hand. One place, used by the consume loop, the dispatcher and the switch API.
/// </summary>
public static class TransientErrors
{
    // Redis's temporary error replies: loading, failover, cluster resharding, a slow script, too few replicas.
    private static readonly string[] TemporaryRedisReplies = ["LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY", "NOREPLICAS", "MOVED", "ASK"];

    public static bool IsTransient(Exception e) => e switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        RedisServerException server => TemporaryRedisReplies.Any(reply => server.Message.StartsWith(reply + " ", StringComparison.Ordinal) || server.Message == reply),
        KafkaException kafka => !kafka.Error.IsFatal && !NeverPasses(kafka.Error.Code),
        AggregateException aggregate => aggregate.InnerExceptions.All(IsTransient),
        _ => false,
    };

    public static bool IsRedis(Exception e) => e is RedisException || (e is AggregateException a && a.InnerExceptions.Any(IsRedis));

    /// <summary>
    /// What went wrong, in words safe for a log line, a health description or a dead-letter header: the kind of
    /// failure and the server's error code, never the exception's text (which may name keys holding phone numbers).
    /// </summary>
    public static string Describe(Exception e) => e switch
    {
        RedisConnectionException connection => $"Redis connection failed ({connection.FailureType})",
        RedisTimeoutException => "Redis timed out",
        RedisServerException server => $"Redis replied {FirstWord(server.Message)}",
        KafkaException kafka => $"Kafka error {kafka.Error.Code}",
        AggregateException { InnerExceptions.Count: > 0 } aggregate => Describe(aggregate.InnerExceptions[0]),
        _ => e.GetType().Name,
    };

    /// <summary>Kafka errors that the same record will meet again, however long we wait.</summary>
    private static bool NeverPasses(ErrorCode code) => code is ErrorCode.MsgSizeTooLarge
        or ErrorCode.InvalidMsg or ErrorCode.InvalidMsgSize or ErrorCode.RecordListTooLarge or ErrorCode.InvalidRecord
        or ErrorCode.Local_BadMsg or ErrorCode.Local_InvalidArg or ErrorCode.TopicAuthorizationFailed or ErrorCode.UnsupportedForMessageFormat;

    private static string FirstWord(string message)
    {
        var end = message.IndexOf(' ', StringComparison.Ordinal);
        var word = end < 0 ? message : message[..end];
        return word.Length <= 32 && word.All(char.IsAsciiLetterUpper) ? word : "an error";
    }
}
