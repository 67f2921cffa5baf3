using System.ComponentModel.DataAnnotations;

namespace CallRecovery.Redis;

/// <summary>Where recovery state lives. Bound from the "Redis" section.</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. "redis-0:6379,redis-1:6379,password=...". Required; a cluster is discovered from any node.</summary>
    [Required(ErrorMessage = "Redis:ConnectionString is required (e.g. localhost:6379); set it in appsettings or as the environment variable Redis__ConnectionString.")]
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>Prefix of every key, so several deployments or tests can share one Redis. Default "cr". Letters, digits, '-', '_' and '.' only.</summary>
    [RegularExpression("^[A-Za-z0-9._-]{1,32}$", ErrorMessage = "Redis:KeyPrefix must be 1-32 letters, digits, '.', '_' or '-'.")]
    public string KeyPrefix { get; set; } = "cr";

    /// <summary>How long decisions and recoveries are kept. Must outlast the input topic's retention so a replay from offset 0 is still recognised. Default 7 days (Kafka's default retention).</summary>
    [Range(typeof(TimeSpan), "01:00:00", "90.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Optional secret (at least 32 characters) that keys subscriber state by HMAC-SHA256 of the number instead of
    /// the number, so a Redis dump, <c>KEYS</c> or <c>MONITOR</c> does not list who called whom. Set it before the
    /// first deployment and never change it: state kept under other keys (opt-outs among it) is no longer found.
    /// Default none (keys carry the number).
    /// </summary>
    [MinLength(32, ErrorMessage = "Redis:SubscriberKeySecret must be at least 32 characters.")]
    public string? SubscriberKeySecret { get; set; }
}
