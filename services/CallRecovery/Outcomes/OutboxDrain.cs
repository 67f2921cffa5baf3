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
/// only then deletes them, as far as they went out in order (after a failure the next try starts at the first that
/// failed). At least once: a replica that dies between publishing and deleting leaves the batch for the next holder
/// of the lease to publish again; consumers deduplicate on (recovery id, stage or outcome). While Kafka is away the
/// outbox grows (gauge <c>callrecovery.outbox.length</c>) and nothing else waits for it; past
/// <see cref="KafkaOptions.MaxOutboxLength"/> consumption pauses, and an outbox that publishes nothing for
/// <see cref="KafkaOptions.OutboxStallTimeout"/> makes the replica not ready.
/// </summary>
public sealed partial class OutboxDrain : BackgroundService
{
    private const string Loop = "outbox";
    private const string WatchLoop = "outbox-watch";
    private static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(1);
    private const int BatchSize = 500;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly IConnectionMultiplexer _redis;
    private readonly OutboxKeys _keys;
    private readonly KafkaProducer _producer;
    private readonly KafkaOptions _options;
    private readonly DependencyHealth _health;
    private readonly ServiceProblems _problems;
    private readonly LoopSupervisor _supervisor;
    private readonly LoopHeartbeats _heartbeats;
    private readonly TimeProvider _time;
    private readonly ILogger<OutboxDrain> _logger;
    private readonly string _owner = Guid.NewGuid().ToString("N");
    private long _backlog;

    public OutboxDrain(
        IConnectionMultiplexer redis,
        IOptions<RedisOptions> redisOptions,
        KafkaProducer producer,
        IOptions<KafkaOptions> kafka,
        DependencyHealth health,
        ServiceProblems problems,
        LoopSupervisor supervisor,
        LoopHeartbeats heartbeats,
        CallRecoveryTelemetry telemetry,
        TimeProvider time,
        ILogger<OutboxDrain> logger)
    {
        _redis = redis;
        _keys = OutboxKeys.For(redisOptions.Value);
        _producer = producer;
        _options = kafka.Value;
        _health = health;
        _problems = problems;
        _supervisor = supervisor;
        _heartbeats = heartbeats;
        _time = time;
        _logger = logger;
        telemetry.Meter.CreateObservableGauge("callrecovery.outbox.length", () => Interlocked.Read(ref _backlog), "{update}",
            "Outcome updates in the outboxes (all switches), not yet on Kafka (grows while Kafka is away).");
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        _supervisor.RunAsync(Loop, RunAsync, stoppingToken),
        _supervisor.RunAsync(WatchLoop, WatchAsync, stoppingToken));

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            _heartbeats.Beat(Loop);
            try
            {
                var switches = (await _redis.GetDatabase().SetMembersAsync(_keys.Outboxes()).ConfigureAwait(false)).Select(v => v.ToString()).ToList();
                await Task.WhenAll(switches.Select(DrainAsync)).ConfigureAwait(false);
            }
            catch (Exception e) when (TransientErrors.IsTransient(e))
            {
                // Kafka or Redis is away: the updates stay in the outbox and go out when it is back.
                var problem = TransientErrors.Describe(e);
                if (TransientErrors.IsRedis(e))
                {
                    _health.RedisFailed(problem);
                    _problems.SawRedis(e);
                }
                else
                {
                    _health.KafkaFailed(problem);
                }

                LogDelayed(problem);
            }
        }
    }

    /// <summary>
    /// Every second, apart from the drain (which waits on Kafka): how many updates wait in all outboxes, and whether
    /// the oldest of each moved on. Too many, or none moving for the stall timeout, makes the replica not ready:
    /// whichever replica drains an outbox, all of them see it move.
    /// </summary>
    private async Task WatchAsync(CancellationToken stoppingToken)
    {
        var heads = new Dictionary<string, (RedisValue Head, long Since)>(StringComparer.Ordinal);
        using var timer = new PeriodicTimer(WatchInterval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            _heartbeats.Beat(WatchLoop);
            try
            {
                var db = _redis.GetDatabase();
                var switches = (await db.SetMembersAsync(_keys.Outboxes()).ConfigureAwait(false)).Select(v => v.ToString()).ToList();
                var outboxes = await Task.WhenAll(switches.Select(async s => (
                    Switch: s,
                    Length: await db.StreamLengthAsync(_keys.Outbox(s)).ConfigureAwait(false),
                    Head: (await db.StreamRangeAsync(_keys.Outbox(s), "-", "+", 1).ConfigureAwait(false)) is [var first, ..] ? first.Id : RedisValue.Null))).ConfigureAwait(false);
                Watch(outboxes, heads);
            }
            catch (Exception e) when (TransientErrors.IsTransient(e))
            {
                // Redis is away: said by readiness already.
                LogDelayed(TransientErrors.Describe(e));
            }
        }
    }

    /// <summary>The outboxes' length now, and for how long each one's oldest update has waited at its head.</summary>
    private void Watch(IReadOnlyList<(string Switch, long Length, RedisValue Head)> outboxes, Dictionary<string, (RedisValue Head, long Since)> heads)
    {
        var now = _time.GetTimestamp();
        var backlog = outboxes.Sum(o => o.Length);
        Interlocked.Exchange(ref _backlog, backlog);
        var stuck = 0L;
        foreach (var (switchId, length, head) in outboxes)
        {
            if (length == 0 || head.IsNull)
            {
                heads.Remove(switchId);
                continue;
            }

            if (!heads.TryGetValue(switchId, out var known) || known.Head != head)
            {
                heads[switchId] = (head, now);
            }
            else if (_time.GetElapsedTime(known.Since, now) > _options.OutboxStallTimeout)
            {
                stuck += length;
            }
        }

        if (stuck > 0)
        {
            _problems.Report(ServiceProblem.OutboxStalled, $"{stuck} outcome updates wait and none went to Kafka for {_options.OutboxStallTimeout.TotalSeconds:0} s");
        }
        else
        {
            _problems.Clear(ServiceProblem.OutboxStalled);
        }

        if (backlog > _options.MaxOutboxLength)
        {
            _problems.Report(ServiceProblem.OutboxFull, $"{backlog} outcome updates wait for Kafka, more than Kafka:MaxOutboxLength ({_options.MaxOutboxLength}): consumption paused");
        }
        else
        {
            _problems.Clear(ServiceProblem.OutboxFull);
        }
    }

    /// <summary>Publishes one switch's outbox if this replica holds (or takes) its lease.</summary>
    private async Task DrainAsync(string switchId)
    {
        var db = _redis.GetDatabase();
        var outbox = _keys.Outbox(switchId);
        if (!await HoldLeaseAsync(db, switchId).ConfigureAwait(false))
        {
            return;
        }

        while (true)
        {
            var entries = await db.StreamRangeAsync(outbox, "-", "+", BatchSize).ConfigureAwait(false);
            if (entries.Length == 0)
            {
                return;
            }

            // Produced in stream order (librdkafka keeps one partition's order with idempotence); deleted as far as
            // every one before went out, so a failure part-way resends from the first that failed, never out of order.
            var sends = entries.Select(e => _producer.ProduceAsync(TopicOf(e), Message(e))).ToArray();
            await Task.WhenAll(sends.Cast<Task>()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var delivered = sends.TakeWhile(s => s.IsCompletedSuccessfully).Count();
            if (delivered > 0)
            {
                await db.StreamDeleteAsync(outbox, [.. entries.Take(delivered).Select(e => e.Id)]).ConfigureAwait(false);
            }

            if (delivered < entries.Length)
            {
                // The first failure says why (Kafka away, a fatal producer built again): the next round tries again.
                await sends[delivered].ConfigureAwait(false);
            }

            if (entries.Length < BatchSize)
            {
                return;
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

    /// <summary>Outcome updates go to the outcome topic; compensations and shadow recoveries' updates (written to the same outbox, in order) to theirs.</summary>
    private string TopicOf(StreamEntry entry) => (string?)entry[OutcomePublisher.KindField] switch
    {
        OutcomePublisher.CompensationKind => _options.CompensationTopic,
        OutcomePublisher.ShadowKind => _options.ShadowOutcomeTopic,
        _ => _options.OutcomeTopic,
    };

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
