using System.Globalization;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Delivery;

/// <summary>A command to queue: due then (mode "ensure": only if not queued or in flight already; "move": due then, whatever it was).</summary>
public readonly record struct QueuedCommand(string CallId, DateTimeOffset DueAt, DateTimeOffset Deadline, bool Move);

/// <summary>
/// Each switch's queue in Redis (slot <c>{w:switchId}</c>): commands due to be sent, in flight until acknowledged,
/// their deadlines, and accepted callbacks awaiting an outcome. Every step is idempotent, so any replica may run any
/// of them; what a crash between two steps leaves is found by the sweep (leased overdue entries) and moved through the
/// lifecycle's door. Writes from many callers at once go as one run per script, merged per switch.
/// </summary>
public sealed class SwitchQueues(IConnectionMultiplexer redis, IOptions<RedisOptions> options)
{
    private static readonly RedisScript ClaimDue = LuaResources.Load("claim_due.lua");
    private static readonly RedisScript Enqueue = LuaResources.Load("enqueue.lua");
    private static readonly RedisScript Park = LuaResources.Load("park.lua");
    private static readonly RedisScript Settle = LuaResources.Load("settle.lua");
    private static readonly RedisScript Supervise = LuaResources.Load("supervise.lua");
    private static readonly RedisScript Requeue = LuaResources.Load("requeue.lua");
    private static readonly RedisScript Sweep = LuaResources.Load("sweep.lua");

    private readonly DeliveryKeys _keys = DeliveryKeys.For(options.Value);
    private readonly long _ttlMs = (long)options.Value.Retention.TotalMilliseconds;
    private readonly ScriptBatcher _enqueues = new(() => redis.GetDatabase(), Enqueue, mergeSameKeys: true);
    private readonly ScriptBatcher _parks = new(() => redis.GetDatabase(), Park, mergeSameKeys: true);
    private readonly ScriptBatcher _settles = new(() => redis.GetDatabase(), Settle, mergeSameKeys: true);
    private readonly ScriptBatcher _supervisions = new(() => redis.GetDatabase(), Supervise, mergeSameKeys: true);
    private readonly ScriptBatcher _requeues = new(() => redis.GetDatabase(), Requeue, mergeSameKeys: true);

    private IDatabase Db => redis.GetDatabase();

    public Task EnqueueAsync(string switchId, IReadOnlyList<QueuedCommand> commands) =>
        commands.Count == 0 ? Task.CompletedTask : _enqueues.EvaluateAsync(Keys(switchId), [.. commands.SelectMany(c => new RedisValue[]
            { c.CallId, c.DueAt.ToUnixTimeMilliseconds(), c.Deadline.ToUnixTimeMilliseconds(), c.Move ? "move" : "ensure", _ttlMs })]);

    /// <summary>Held: out of the due and in-flight sets, the deadline kept (or added).</summary>
    public Task ParkAsync(string switchId, IReadOnlyList<(string CallId, DateTimeOffset Deadline)> commands) =>
        commands.Count == 0 ? Task.CompletedTask : _parks.EvaluateAsync(Keys(switchId), [.. commands.SelectMany(c => new RedisValue[] { c.CallId, c.Deadline.ToUnixTimeMilliseconds(), _ttlMs })]);

    /// <summary>Out of the switch's queue for good.</summary>
    public Task SettleAsync(string switchId, IReadOnlyList<string> callIds) =>
        callIds.Count == 0 ? Task.CompletedTask : _settles.EvaluateAsync(Keys(switchId), [.. callIds.Select(c => (RedisValue)c)]);

    /// <summary>Accepted: out of the delivery sets, awaiting the outcome until <c>Until</c>.</summary>
    public Task SuperviseAsync(string switchId, IReadOnlyList<(string CallId, DateTimeOffset Until)> commands) =>
        commands.Count == 0 ? Task.CompletedTask : _supervisions.EvaluateAsync(Keys(switchId), [.. commands.SelectMany(c => new RedisValue[] { c.CallId, c.Until.ToUnixTimeMilliseconds(), _ttlMs })]);

    /// <summary>In-flight commands back to due at <paramref name="dueAt"/> (only those still in flight).</summary>
    public Task RequeueAsync(string switchId, IReadOnlyCollection<string> callIds, DateTimeOffset dueAt) =>
        callIds.Count == 0 ? Task.CompletedTask : _requeues.EvaluateAsync(Keys(switchId), [.. callIds.SelectMany(c => new RedisValue[] { c, dueAt.ToUnixTimeMilliseconds() })]);

    /// <summary>Remembers that these switches have work, so every replica sweeps them.</summary>
    public Task RecordSwitchesAsync(IEnumerable<string> switchIds)
    {
        var ids = switchIds.Distinct(StringComparer.Ordinal).Select(s => (RedisValue)s).ToArray();
        return ids.Length == 0 ? Task.CompletedTask : Task.WhenAll(Db.SetAddAsync(_keys.Switches(), ids), Db.KeyExpireAsync(_keys.Switches(), TimeSpan.FromMilliseconds(_ttlMs)));
    }

    public async Task<IReadOnlyList<string>> SwitchesAsync() =>
        [.. (await Db.SetMembersAsync(_keys.Switches()).ConfigureAwait(false)).Select(v => v.ToString())];

    /// <summary>Claims up to <paramref name="count"/> due commands of a switch; also says when the next one left in its queue is due (null: none left).</summary>
    /// <remarks>With an admission rate (commands per second, 0: none), no more are claimed than the switch's shared token bucket allows; the next due time then says when the next token is.</remarks>
    public async Task<(IReadOnlyList<string> Claimed, DateTimeOffset? NextDue)> ClaimDueAsync(string switchId, int count, DateTimeOffset now, DateTimeOffset acknowledgementDeadline, int admissionRate = 0)
    {
        var result = (RedisResult[])(await Db.EvaluateAsync(ClaimDue, [_keys.Due(switchId), _keys.InFlight(switchId), _keys.Admission(switchId)],
            [now.ToUnixTimeMilliseconds(), count, acknowledgementDeadline.ToUnixTimeMilliseconds(), _ttlMs, admissionRate]).ConfigureAwait(false))!;
        IReadOnlyList<string> claimed = [.. ((RedisResult[])result[0]!).Select(r => (string)r!)];
        return (claimed, result[1].IsNull ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)(double)result[1]));
    }

    /// <summary>Leases what is overdue (acknowledgements, deadlines, outcomes) to the caller until <paramref name="lease"/> from now.</summary>
    public async Task<(IReadOnlyList<string> Unacknowledged, IReadOnlyList<string> PastDeadline, IReadOnlyList<string> Silent)> SweepAsync(string switchId, DateTimeOffset now, TimeSpan lease, int most)
    {
        var result = (RedisResult[])(await Db.EvaluateAsync(Sweep, Keys(switchId), [now.ToUnixTimeMilliseconds(), (now + lease).ToUnixTimeMilliseconds(), most]).ConfigureAwait(false))!;
        static IReadOnlyList<string> Ids(RedisResult r) => [.. ((RedisResult[])r!).Select(v => (string)v!)];
        return (Ids(result[0]), Ids(result[1]), Ids(result[2]));
    }

    public async Task<(long Due, long InFlight)> QueueLengthsAsync(string switchId)
    {
        var due = Db.SortedSetLengthAsync(_keys.Due(switchId));
        var inFlight = Db.SortedSetLengthAsync(_keys.InFlight(switchId));
        return (await due.ConfigureAwait(false), await inFlight.ConfigureAwait(false));
    }

    /// <summary>Tells every replica that <paramref name="switchId"/> has a command due at <paramref name="dueAt"/> (the one serving it wakes then).</summary>
    public Task AnnounceDueAsync(string switchId, DateTimeOffset dueAt) =>
        redis.GetSubscriber().PublishAsync(_keys.DueChannel(), $"{switchId}|{dueAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}", CommandFlags.FireAndForget);

    /// <summary>Calls <paramref name="onDue"/> with (switch id, due time) for every announcement, from any replica.</summary>
    public Task SubscribeDueAsync(Action<string, DateTimeOffset> onDue) =>
        redis.GetSubscriber().SubscribeAsync(_keys.DueChannel(), (_, message) =>
        {
            var text = (string?)message ?? string.Empty;
            var bar = text.LastIndexOf('|');
            if (bar > 0 && long.TryParse(text.AsSpan(bar + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            {
                onDue(text[..bar], DateTimeOffset.FromUnixTimeMilliseconds(ms));
            }
        });

    private RedisKey[] Keys(string switchId) => [_keys.Due(switchId), _keys.InFlight(switchId), _keys.Deadlines(switchId), _keys.Supervised(switchId)];
}
