using System.Text;
using CallRecovery.Kafka;
using CallRecovery.Observability;
using CallRecovery.Probes;
using CallRecovery.Redis;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Outcomes;

/// <summary>
/// Publishes the outbox to the outcome topic: per switch, one replica at a time (a lease in Redis) reads the
/// stream from its start in batches, publishes them in order (idempotent producer, acks from all replicas), and
/// only then deletes them. At least once: a replica that dies between publishing and deleting leaves the batch
/// for the next holder of the lease to publish again; consumers deduplicate on (recovery id, stage or outcome).
/// While Kafka is away the outbox grows (gauge <c>callrecovery.outbox.length</c>) and nothing else waits for it.
/// </summary>
public sealed partial class OutboxDrain : BackgroundService
{
    private const string Loop = "outbox";
    private const int BatchSize = 500;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly IConnectionMultiplexer _redis;
    private readonly OutboxKeys _keys;
    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly string _topic;
    private readonly DependencyHealth _health;
    private readonly LoopSupervisor _supervisor;
    private readonly LoopHeartbeats _heartbeats;
    private readonly ILogger<OutboxDrain> _logger;
    private readonly string _owner = Guid.NewGuid().ToString("N");
    private long _backlog;

    public OutboxDrain(
        IConnectionMultiplexer redis,
        IOptions<RedisOptions> redisOptions,
        IProducer<byte[]?, byte[]?> producer,
        IOptions<KafkaOptions> kafka,
        DependencyHealth health,
        LoopSupervisor supervisor,
        LoopHeartbeats heartbeats,
        CallRecoveryTelemetry telemetry,
        ILogger<OutboxDrain> logger)
    {
        _redis = redis;
        _keys = OutboxKeys.For(redisOptions.Value);
        _producer = producer;
        _topic = kafka.Value.OutcomeTopic;
        _health = health;
        _supervisor = supervisor;
        _heartbeats = heartbeats;
        _logger = logger;
        telemetry.Meter.CreateObservableGauge("callrecovery.outbox.length", () => Interlocked.Read(ref _backlog), "{update}",
            "Outcome updates in the outboxes this replica drains, not yet on Kafka (grows while Kafka is away).");
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _supervisor.RunAsync(Loop, RunAsync, stoppingToken);

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            _heartbeats.Beat(Loop);
            try
            {
                var switches = (await _redis.GetDatabase().SetMembersAsync(_keys.Outboxes()).ConfigureAwait(false)).Select(v => v.ToString()).ToList();
                var left = await Task.WhenAll(switches.Select(DrainAsync)).ConfigureAwait(false);
                Interlocked.Exchange(ref _backlog, left.Sum());
            }
            catch (Exception e) when (TransientErrors.IsTransient(e))
            {
                // Kafka or Redis is away: the updates stay in the outbox and go out when it is back.
                var problem = TransientErrors.Describe(e);
                if (TransientErrors.IsRedis(e))
                {
                    _health.RedisFailed(problem);
                }
                else
                {
                    _health.KafkaFailed(problem);
                }

                LogDelayed(problem);
            }
        }
    }

    /// <summary>Publishes one switch's outbox if this replica holds (or takes) its lease; returns what is left in it.</summary>
    private async Task<long> DrainAsync(string switchId)
    {
        var db = _redis.GetDatabase();
        var outbox = _keys.Outbox(switchId);
        if (!await HoldLeaseAsync(db, switchId).ConfigureAwait(false))
        {
            return 0;
        }

        while (true)
        {
            var entries = await db.StreamRangeAsync(outbox, "-", "+", BatchSize).ConfigureAwait(false);
            if (entries.Length == 0)
            {
                return 0;
            }

            // Produced in stream order: librdkafka keeps the order of one partition (one recovery) with idempotence.
            await Task.WhenAll(entries.Select(e => _producer.ProduceAsync(_topic, Message(e)))).ConfigureAwait(false);
            await db.StreamDeleteAsync(outbox, [.. entries.Select(e => e.Id)]).ConfigureAwait(false);
            if (entries.Length < BatchSize)
            {
                return await db.StreamLengthAsync(outbox).ConfigureAwait(false);
            }

            await db.KeyExpireAsync(_keys.OutboxLease(switchId), Lease).ConfigureAwait(false);
        }
    }

    private async Task<bool> HoldLeaseAsync(IDatabase db, string switchId)
    {
        var lease = _keys.OutboxLease(switchId);
        if (await db.StringSetAsync(lease, _owner, Lease, When.NotExists).ConfigureAwait(false))
        {
            return true;
        }

        if (await db.StringGetAsync(lease).ConfigureAwait(false) != _owner)
        {
            return false;
        }

        await db.KeyExpireAsync(lease, Lease).ConfigureAwait(false);
        return true;
    }

    private static Message<byte[]?, byte[]?> Message(StreamEntry entry)
    {
        var headers = new Headers { { "content-type", "application/x-protobuf"u8.ToArray() } };
        var traceParent = (string?)entry[OutcomePublisher.TraceParentField];
        if (!string.IsNullOrEmpty(traceParent))
        {
            headers.Add(RecoveryTracing.TraceParentHeader, Encoding.ASCII.GetBytes(traceParent));
        }

        return new Message<byte[]?, byte[]?>
        {
            Key = Encoding.UTF8.GetBytes((string?)entry[OutcomePublisher.KeyField] ?? string.Empty),
            Value = (byte[]?)entry[OutcomePublisher.ValueField],
            Headers = headers,
        };
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Outcome updates wait in the outbox: {Reason}")]
    private partial void LogDelayed(string reason);
}
