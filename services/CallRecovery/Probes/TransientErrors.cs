using Confluent.Kafka;
using StackExchange.Redis;

namespace CallRecovery.Probes;

/// <summary>
/// Which failures mean "Redis or Kafka cannot do this for now, try again" (retry, report not ready, confirm
/// nothing) rather than a problem with the data at hand (dead letter). One place, used by the consume loop, the
/// dispatcher and the switch API. Among them, <see cref="IsInfrastructure"/> are the ones that say Redis refuses
/// writes (full, a failing disk, a permission taken away, a replica): they last until an operator acts, so the replica
/// says why it is not ready.
/// </summary>
public static class TransientErrors
{
    // Redis's temporary error replies: loading, failover, cluster resharding, a slow script.
    private static readonly string[] TemporaryRedisReplies = ["LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "BUSY", "MOVED", "ASK"];

    // Redis refuses writes: out of memory (maxmemory), persistence failing (MISCONF), permission (NOPERM), a replica
    // (READONLY), too few replicas (NOREPLICAS).
    private static readonly string[] CannotWriteReplies = ["OOM", "MISCONF", "NOPERM", "READONLY", "NOREPLICAS"];

    public static bool IsTransient(Exception e) => e switch
    {
        RedisConnectionException or RedisTimeoutException or HeldBackException => true,
        RedisServerException server => RedisCode(server.Message) is { } code && (TemporaryRedisReplies.Contains(code) || CannotWriteReplies.Contains(code)),
        KafkaException kafka => !kafka.Error.IsFatal && !NeverPasses(kafka.Error.Code),
        AggregateException aggregate => aggregate.InnerExceptions.All(IsTransient),
        _ => false,
    };

    /// <summary>Redis refuses writes until an operator acts (full, persistence failing, a permission, a replica): retried, and the replica is not ready meanwhile.</summary>
    public static bool IsInfrastructure(Exception e) => e switch
    {
        RedisServerException server => RedisCode(server.Message) is { } code && CannotWriteReplies.Contains(code),
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsInfrastructure),
        _ => false,
    };

    public static bool IsRedis(Exception e) => e is RedisException || (e is AggregateException a && a.InnerExceptions.Any(IsRedis));

    /// <summary>
    /// The error code of a Redis reply: its first word; inside a script, a command refused by the user's permissions
    /// says so in words ("ERR The user executing the script can't run this command"), which is NOPERM.
    /// </summary>
    private static string? RedisCode(string message)
    {
        if (message.StartsWith("ERR ", StringComparison.Ordinal) && message.Contains("can't run this command", StringComparison.Ordinal))
        {
            return "NOPERM";
        }

        var end = message.IndexOf(' ', StringComparison.Ordinal);
        var word = end < 0 ? message : message[..end];
        return word.Length is > 0 and <= 32 && word.All(char.IsAsciiLetterUpper) ? word : null;
    }

    /// <summary>
    /// What went wrong, in words safe for a log line, a health description or a dead-letter header: the kind of
    /// failure and the server's error code, never the exception's text (which may name keys holding phone numbers).
    /// </summary>
    public static string Describe(Exception e) => e switch
    {
        RedisConnectionException connection => $"Redis connection failed ({connection.FailureType})",
        RedisTimeoutException => "Redis timed out",
        RedisServerException server => $"Redis replied {RedisCode(server.Message) ?? "an error"}",
        KafkaException kafka => $"Kafka error {kafka.Error.Code}",
        HeldBackException held => held.Message,
        AggregateException { InnerExceptions.Count: > 0 } aggregate => Describe(aggregate.InnerExceptions[0]),
        _ => e.GetType().Name,
    };

    /// <summary>Kafka errors that the same record will meet again, however long we wait.</summary>
    private static bool NeverPasses(ErrorCode code) => code is ErrorCode.MsgSizeTooLarge
        or ErrorCode.InvalidMsg or ErrorCode.InvalidMsgSize or ErrorCode.RecordListTooLarge or ErrorCode.InvalidRecord
        or ErrorCode.Local_BadMsg or ErrorCode.Local_InvalidArg or ErrorCode.UnsupportedForMessageFormat;
}
