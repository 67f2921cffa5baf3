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

    /// <summary>
    /// When a write counts as done, so that what depends on it may be confirmed (a Kafka offset stored, a report
    /// answered <c>ReportReceived</c>, an opt-out answered 200, a callback command sent): <see cref="RedisDurability.Local"/>
    /// once the primary's append-only file is fsynced, <see cref="RedisDurability.Replicated"/> once
    /// <see cref="DurableReplicas"/> replicas have it, <see cref="RedisDurability.None"/> once the primary has it in
    /// memory. Default Local.
    /// </summary>
    public RedisDurability Durability { get; set; } = RedisDurability.Local;

    /// <summary>Replicas that must acknowledge a write in <see cref="RedisDurability.Replicated"/> mode. Default 1.</summary>
    [Range(1, 16)]
    public int DurableReplicas { get; set; } = 1;

    /// <summary>How long a durability wait may take before the writes count as not durable (nothing confirmed, the work retried, the replica not ready). Default 2 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan DurabilityTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How many recoveries each replica keeps as it last read or wrote them (for a minute at most), so the moves that
    /// follow one another (a dispatch after the creation, the acknowledgement, the outcome) need not read them again;
    /// a move is still written only if the recovery is at the version it was decided on. 0 turns it off. Default 16,384:
    /// a dispatch finds its recovery here when fewer recoveries were made since than this (a grace period of 2 s at
    /// 8,000 drops/s; 4,096 until 2026-12-07 missed at 2,000/s), at about 7 KiB of the service's memory each.
    /// </summary>
    [Range(0, 1_000_000)]
    public int RecentRecoveries { get; set; } = 16_384;
}

/// <summary>What must hold before a write is confirmed to anyone outside (see <see cref="RedisOptions.Durability"/>).</summary>
public enum RedisDurability
{
    /// <summary>In the primary's memory: a primary failover or a host crash can lose confirmed writes.</summary>
    None,

    /// <summary>
    /// In the primary's append-only file, fsynced: <c>WAITAOF 1 0</c> on Redis 7.2 and later; on older Redis the
    /// primary must run <c>appendonly yes</c> with <c>appendfsync always</c> (checked). Survives a host crash, not the
    /// loss of the disk.
    /// </summary>
    Local,

    /// <summary>On <see cref="RedisOptions.DurableReplicas"/> replicas (<c>WAIT</c>): survives a failover to one of them.</summary>
    Replicated,
}
