using System.Globalization;
using System.Text.Json;
using CallRecovery.Observability;
using CallRecovery.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Delivery;

/// <summary>
/// The kill switch: while paused, no replica sends any new callback command (first deliveries, retries and resends
/// alike). The state lives in Redis and every replica learns a change at once through pub/sub, and within a sweep
/// interval (1 s) if it missed the message. What was already written to a switch stays with the switch (its
/// acceptance, stages and outcome are handled as always); everything queued or coming due is held in its queue until
/// the pause ends or its deadline passes (then it expires with <c>EXPIRED</c>, as any callback not delivered in time).
/// Resuming releases the held commands through the normal dispatch, paced by each switch's admission rate. Each change
/// is kept with who made it, when, from where and what it changed.
/// </summary>
public sealed partial class DispatchPause : IHealthCheck
{
    /// <summary>How long a pause and its audit are kept unchanged; every replica's sweep renews them.</summary>
    public static readonly TimeSpan Keep = TimeSpan.FromDays(30);

    /// <summary>The most changes kept in the audit trail.</summary>
    public const int MostChanges = 50;

    private static readonly RedisScript SetPause = LuaResources.Load("set_pause.lua");
    private readonly IConnectionMultiplexer _redis;
    private readonly DeliveryKeys _keys;
    private readonly DispatchSignal _signal;
    private readonly TimeProvider _time;
    private readonly ILogger<DispatchPause> _logger;
    private volatile PauseState _state = PauseState.Running;
    private volatile bool _subscribed;
    private long _renewedAtMs = long.MinValue / 2;

    public DispatchPause(IConnectionMultiplexer redis, IOptions<RedisOptions> options, DispatchSignal signal, CallRecoveryTelemetry telemetry, TimeProvider time, ILogger<DispatchPause> logger)
    {
        _redis = redis;
        _keys = DeliveryKeys.For(options.Value);
        _signal = signal;
        _time = time;
        _logger = logger;
        telemetry.Meter.CreateObservableGauge("callrecovery.dispatch.paused", () => _state.Paused ? 1 : 0, "{pause}",
            "1 while the kill switch holds every new callback command (PUT /v1/rollout), as this replica last read it.");
    }

    /// <summary>True while no new command may be sent.</summary>
    public bool Paused => _state.Paused;

    private RedisKey StateKey => _keys.Pause();

    private RedisKey AuditKey => _keys.PauseChanges();

    private RedisChannel Channel => _keys.PauseChannel();

    /// <summary>Listens for changes made through any replica and reads the state now: once for the replica's life (later calls return at once).</summary>
    public async Task StartAsync()
    {
        if (_subscribed)
        {
            return;
        }

        await _redis.GetSubscriber().SubscribeAsync(Channel, (_, _) => _ = RefreshQuietlyAsync()).ConfigureAwait(false);
        await RefreshAsync().ConfigureAwait(false);
        _subscribed = true;
    }

    /// <summary>Reads the pause from Redis (the sweep's safety net for a missed message): one read; what is kept is renewed hourly while paused.</summary>
    public async Task<PauseState> RefreshAsync()
    {
        var db = _redis.GetDatabase();
        var fields = await db.HashGetAllAsync(StateKey).ConfigureAwait(false);
        var state = PauseState.From(fields.ToDictionary(f => f.Name.ToString(), f => f.Value.ToString(), StringComparer.Ordinal));
        var now = _time.GetUtcNow();
        if (state.Paused && now.ToUnixTimeMilliseconds() - Interlocked.Read(ref _renewedAtMs) > (long)RenewEvery.TotalMilliseconds)
        {
            // A pause must never lapse by itself: kept for another 30 days, by any replica, once an hour.
            await Task.WhenAll(db.KeyExpireAsync(StateKey, Keep), db.KeyExpireAsync(AuditKey, Keep)).ConfigureAwait(false);
            Interlocked.Exchange(ref _renewedAtMs, now.ToUnixTimeMilliseconds());
        }

        Apply(state);
        return state;
    }

    private static readonly TimeSpan RenewEvery = TimeSpan.FromHours(1);

    /// <summary>Pauses or resumes every replica; returns the state before and after. The caller waits for durability.</summary>
    public async Task<(PauseState Before, PauseState After)> SetAsync(bool paused, string reason, string by, string from)
    {
        var now = _time.GetUtcNow();
        // One round trip: the change, its audit entry and the announcement to every replica.
        var reply = (RedisResult[])(await _redis.GetDatabase().EvaluateAsync(SetPause, [StateKey, AuditKey],
            [paused ? 1 : 0, reason, by, from, now.ToUnixTimeMilliseconds(), (long)Keep.TotalMilliseconds, MostChanges, Channel.ToString()]).ConfigureAwait(false))!;
        var before = new PauseState((long)reply[0] == 1, (string?)reply[3] ?? string.Empty, (string?)reply[2] ?? string.Empty, SinceOf((string?)reply[1]));
        var after = new PauseState(paused, reason, by, SinceOf((string?)reply[4]));
        Interlocked.Exchange(ref _renewedAtMs, now.ToUnixTimeMilliseconds());
        Apply(after);
        return (before, after);
    }

    /// <summary>The pause now (read afresh) and its latest changes, newest first.</summary>
    public async Task<(PauseState State, IReadOnlyList<PauseChange> Changes)> GetAsync() =>
        (await RefreshAsync().ConfigureAwait(false), await ChangesAsync().ConfigureAwait(false));

    /// <summary>The latest changes, newest first.</summary>
    public async Task<IReadOnlyList<PauseChange>> ChangesAsync()
    {
        var entries = await _redis.GetDatabase().ListRangeAsync(AuditKey, 0, MostChanges - 1).ConfigureAwait(false);
        return [.. entries.Select(e => PauseChange.Parse(e.ToString()))];
    }

    /// <summary>Readiness details: a pause is not a fault (the replica still consumes and decides), but it is said.</summary>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var state = _state;
        return Task.FromResult(state.Paused
            ? HealthCheckResult.Degraded($"callbacks paused by {state.By} since {state.Since:yyyy-MM-dd HH:mm:ss} UTC: {state.Reason}")
            : HealthCheckResult.Healthy("callbacks running"));
    }

    private async Task RefreshQuietlyAsync()
    {
        try
        {
            await RefreshAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (Probes.TransientErrors.IsTransient(e))
        {
            // The sweep reads it again within a second.
            LogRefreshFailed(Probes.TransientErrors.Describe(e));
        }
    }

    private void Apply(PauseState state)
    {
        var before = _state;
        _state = state;
        if (before.Paused && !state.Paused)
        {
            LogResumed(state.By);
            // Held commands go now, paced by their switches' rates.
            _signal.Wake();
        }
        else if (!before.Paused && state.Paused)
        {
            LogPaused(state.By, state.Reason);
        }
    }

    private static DateTimeOffset? SinceOf(string? ms) =>
        long.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? DateTimeOffset.FromUnixTimeMilliseconds(value) : null;

    [LoggerMessage(EventId = 3150, Level = LogLevel.Warning, Message = "Callbacks paused by {By}: {Reason}; no new command is sent until they are resumed")]
    private partial void LogPaused(string by, string reason);

    [LoggerMessage(EventId = 3151, Level = LogLevel.Warning, Message = "Callbacks resumed by {By}: held commands go out, paced by each switch's rate")]
    private partial void LogResumed(string by);

    [LoggerMessage(EventId = 3152, Level = LogLevel.Warning, Message = "The pause state could not be read ({Reason}); the sweep reads it again")]
    private partial void LogRefreshFailed(string reason);

    /// <summary>Whether callbacks are paused, since when, by whom and why (since: when it was paused or last resumed).</summary>
    public sealed record PauseState(bool Paused, string Reason, string By, DateTimeOffset? Since)
    {
        public static readonly PauseState Running = new(false, string.Empty, string.Empty, null);

        internal static PauseState From(IReadOnlyDictionary<string, string> fields) =>
            fields.Count == 0 ? Running
            : new(fields.GetValueOrDefault("paused") == "1", fields.GetValueOrDefault("reason") ?? string.Empty, fields.GetValueOrDefault("by") ?? string.Empty, SinceOf(fields.GetValueOrDefault("since")));
    }

    /// <summary>One change of the kill switch: what it became and was, why, who, from where, when.</summary>
    public sealed record PauseChange(bool Paused, bool WasPaused, string Reason, string By, string From, DateTimeOffset At)
    {
        internal static PauseChange Parse(string json)
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            return new(root.GetProperty("paused").GetBoolean(), root.GetProperty("wasPaused").GetBoolean(), root.GetProperty("reason").GetString() ?? string.Empty,
                root.GetProperty("by").GetString() ?? string.Empty, root.GetProperty("from").GetString() ?? string.Empty,
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("at").GetInt64()));
        }
    }
}
