using System.Net;
using CallRecovery.Probes;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// Waits until the writes this replica made so far are durable in the configured mode
/// (<see cref="RedisOptions.Durability"/>), before anything that depends on them is confirmed outside: a Kafka offset
/// stored, a report answered, an opt-out answered, a command sent. Group commit: callers that arrive while a wait
/// is under way share the next one, so there is one wait a batch or dispatch round, not one per write. A wait that
/// falls short throws <see cref="HeldBackException"/> (transient: the caller confirms nothing and tries again) and
/// makes the replica not ready (<see cref="ServiceProblem.NotDurable"/>) until one succeeds.
/// </summary>
/// <remarks>
/// <c>WAIT</c> and <c>WAITAOF</c> cover the writes sent before them on the same connection: they are sent on each
/// multiplexer's own connection to every primary, after the callers' writes were answered.
/// </remarks>
public sealed partial class DurabilityBarrier : IDisposable
{
    private static readonly Version WaitAofSince = new(7, 2);
    private static readonly TimeSpan ConfigRecheck = TimeSpan.FromSeconds(5);

    private readonly RedisOptions _options;
    private readonly ServiceProblems _problems;
    private readonly TimeProvider _time;
    private readonly ILogger<DurabilityBarrier> _logger;
    private readonly GroupCommit[] _commits;
    private readonly Lock _adminLock = new();
    private ConnectionMultiplexer? _admin;
    // By the server's own endpoint object (StackExchange.Redis keeps one per server): read on every wait, and a
    // DnsEndPoint's hash is made from its text. A server it has not seen (a failover's new primary) is checked anew.
    private readonly Dictionary<EndPoint, (long CheckedAt, string? Problem)> _configs = new(ReferenceEqualityComparer.Instance);

    public DurabilityBarrier(
        IConnectionMultiplexer redis,
        [FromKeyedServices(RedisServiceCollectionExtensions.Decisions)] IConnectionMultiplexer decisions,
        IOptions<RedisOptions> options,
        ServiceProblems problems,
        TimeProvider time,
        ILogger<DurabilityBarrier> logger)
    {
        _options = options.Value;
        _problems = problems;
        _time = time;
        _logger = logger;
        _commits = [.. new[] { redis, decisions }.Distinct().Select(m => new GroupCommit(m, () => WaitOnAsync(m)))];
    }

    /// <summary>Returns once every write this replica made before the call is durable; throws <see cref="HeldBackException"/> if they are not.</summary>
    public Task WaitAsync() => _options.Durability == RedisDurability.None || WrittenThrough()
        ? Task.CompletedTask
        : Task.WhenAll(_commits.Select(c => c.WaitAsync()));

    /// <summary>
    /// Whether every write already answered is durable with nothing to wait for: Local mode, and every primary is one
    /// that fsyncs before it answers (before Redis 7.2: appendfsync always), as checked within the last few seconds.
    /// Then a wait would only read that check again, through a round of the group commit (a thread hop for the wait
    /// and one for each caller, three or more a recovery): it is answered here instead. Anything else (a primary not
    /// connected, not checked lately or found wanting, WAITAOF or WAIT to send) goes through the wait.
    /// </summary>
    private bool WrittenThrough()
    {
        if (_options.Durability != RedisDurability.Local)
        {
            return false;
        }

        lock (_configs)
        {
            foreach (var commit in _commits)
            {
                if (!commit.Held)
                {
                    return false;
                }

                var primaries = 0;
                foreach (var server in commit.Multiplexer.GetServers())
                {
                    if (server.IsReplica)
                    {
                        continue;
                    }

                    if (!server.IsConnected || server.Version >= WaitAofSince || !CheckedLately(server.EndPoint, out var problem) || problem is not null)
                    {
                        return false;
                    }

                    primaries++;
                }

                if (primaries == 0)
                {
                    return false;
                }
            }
        }

        return true;
    }

    private async Task WaitOnAsync(IConnectionMultiplexer multiplexer)
    {
        var primaries = multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
        if (primaries.Count == 0)
        {
            // Nothing connected: the ping says so in Redis's own terms (a connection failure: Redis is away).
            await multiplexer.GetDatabase().PingAsync().ConfigureAwait(false);
            _problems.Report(ServiceProblem.NotDurable, "no Redis primary is connected");
            throw new HeldBackException(ServiceProblem.NotDurable, "no Redis primary is connected");
        }

        var shortfalls = await Task.WhenAll(primaries.Select(WaitOnAsync)).ConfigureAwait(false);
        if (shortfalls.FirstOrDefault(s => s is not null) is { } shortfall)
        {
            _problems.Report(ServiceProblem.NotDurable, shortfall);
            throw new HeldBackException(ServiceProblem.NotDurable, shortfall);
        }

        _problems.Clear(ServiceProblem.NotDurable);
    }

    /// <summary>Waits on one primary; returns why its writes are not durable, or null when they are.</summary>
    private async Task<string?> WaitOnAsync(IServer primary)
    {
        var timeout = (long)_options.DurabilityTimeout.TotalMilliseconds;
        if (_options.Durability == RedisDurability.Replicated)
        {
            var acknowledged = (long)await primary.ExecuteAsync("WAIT", _options.DurableReplicas, timeout).ConfigureAwait(false);
            return acknowledged >= _options.DurableReplicas
                ? null
                : $"Redis {primary.EndPoint}: {acknowledged} of {_options.DurableReplicas} replicas acknowledged within {timeout} ms";
        }

        if (primary.Version >= WaitAofSince)
        {
            var counts = (RedisResult[])(await primary.ExecuteAsync("WAITAOF", 1, 0, timeout).ConfigureAwait(false))!;
            return (long)counts[0] >= 1 ? null : $"Redis {primary.EndPoint}: the append-only file was not fsynced within {timeout} ms (is appendonly on?)";
        }

        return await WriteThroughProblemAsync(primary).ConfigureAwait(false);
    }

    /// <summary>
    /// Before WAITAOF (Redis 7.2) a write is durable when answered only if the primary fsyncs its append-only file
    /// before it answers: <c>appendonly yes</c> and <c>appendfsync always</c>. Read with CONFIG (on a connection of
    /// its own: the service's connections are not allowed admin commands), again every few seconds.
    /// </summary>
    private async Task<string?> WriteThroughProblemAsync(IServer primary)
    {
        var key = primary.EndPoint;
        lock (_configs)
        {
            if (CheckedLately(key, out var known))
            {
                return known;
            }
        }

        // Stamped before the question: what the answer says holds from no later than this.
        var asked = _time.GetTimestamp();
        string? problem;
        try
        {
            var config = (await Admin().GetServer(primary.EndPoint).ConfigGetAsync("append*").ConfigureAwait(false))
                .ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
            problem = config.GetValueOrDefault("appendonly") != "yes" || config.GetValueOrDefault("appendfsync") != "always"
                ? $"Redis {primary.EndPoint} {primary.Version} runs appendonly {config.GetValueOrDefault("appendonly") ?? "?"}, appendfsync {config.GetValueOrDefault("appendfsync") ?? "?"}: "
                    + "Redis:Durability Local needs appendonly yes and appendfsync always before Redis 7.2 (WAITAOF)"
                : null;
        }
        catch (RedisServerException e)
        {
            // CONFIG renamed or forbidden (a managed Redis): the policy cannot be known, so nothing counts as durable.
            problem = $"Redis {primary.EndPoint}: the append-only policy cannot be read ({TransientErrors.Describe(e)}); use Redis 7.2+ (WAITAOF) or Redis:Durability Replicated or None";
        }

        lock (_configs)
        {
            _configs[key] = (asked, problem);
        }

        if (problem is not null)
        {
            LogNotWriteThrough(problem);
        }

        return problem;
    }

    /// <summary>Whether the server's append-only policy was read within the last few seconds, and what it said (null: written through). Under the lock.</summary>
    private bool CheckedLately(EndPoint server, out string? problem)
    {
        var known = _configs.TryGetValue(server, out var check) && _time.GetElapsedTime(check.CheckedAt) < ConfigRecheck;
        problem = known ? check.Problem : null;
        return known;
    }

    private ConnectionMultiplexer Admin()
    {
        lock (_adminLock)
        {
            if (_admin is null)
            {
                _admin = RedisServiceCollectionExtensions.Connect(_options, "callrecovery-durability", allowAdmin: true);
            }

            return _admin;
        }
    }

    public void Dispose() => _admin?.Dispose();

    [LoggerMessage(EventId = 5201, Level = LogLevel.Error, Message = "Writes are not durable: {Problem}")]
    private partial void LogNotWriteThrough(string problem);

    /// <summary>One wait at a time on one multiplexer; whoever asks while it runs shares the next.</summary>
    private sealed class GroupCommit(IConnectionMultiplexer multiplexer, Func<Task> wait)
    {
        public IConnectionMultiplexer Multiplexer { get; } = multiplexer;

        /// <summary>The latest wait found every write durable (none has fallen short since).</summary>
        public bool Held => Volatile.Read(ref _held);

        private bool _held;

        private readonly Lock _lock = new();
        private TaskCompletionSource? _next;
        private bool _running;

        public Task WaitAsync()
        {
            lock (_lock)
            {
                if (_next is not null)
                {
                    return _next.Task;
                }

                _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var joined = _next.Task;
                if (!_running)
                {
                    _running = true;
                    _ = Task.Run(RunAsync);
                }

                return joined;
            }
        }

        private async Task RunAsync()
        {
            while (true)
            {
                TaskCompletionSource round;
                lock (_lock)
                {
                    if (_next is null)
                    {
                        _running = false;
                        return;
                    }

                    round = _next;
                    _next = null;
                }

                try
                {
                    await wait().ConfigureAwait(false);
                    Volatile.Write(ref _held, true);
                    round.SetResult();
                }
                catch (Exception e)
                {
                    Volatile.Write(ref _held, false);
                    round.SetException(e);
                }
            }
        }
    }
}
