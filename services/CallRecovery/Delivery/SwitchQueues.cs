using System.Globalization;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Delivery;

/// <summary>
/// How an admission rate is kept at the wire: each command of a paced switch gets a send slot, slots (1000 + tolerance) /
/// rate milliseconds apart, at least <see cref="Lead"/> ahead (the time its dispatch needs: read, checks, the move), taken
/// only within <see cref="Horizon"/>; a replica writes it to the stream at its slot. Sent within the tolerance of their
/// slots, no second at the switch holds more than the rate, however it is cut and whichever replicas send.
/// </summary>
public static class Pace
{
    public static readonly TimeSpan Lead = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan Horizon = TimeSpan.FromMilliseconds(300);
    /// <summary>
    /// The margin a second of slots keeps: slots are spaced (1000 + tolerance) / rate ms apart, so a command written
    /// up to <see cref="LateWrite"/> after its slot, and carried to the switch with up to the rest of the tolerance in
    /// jitter, still leaves no second at the switch with more than the rate. It costs the pool 5% of its rate.
    /// </summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(50);

    /// <summary>A paced command not written this long after its slot is not written at all: it takes a slot again.</summary>
    public static readonly TimeSpan LateWrite = TimeSpan.FromMilliseconds(20);
}

/// <summary>
/// A command to queue: due then (mode "ensure": only if not queued or in flight already; "move": due then, whatever it
/// was); a vulnerable customer's (<paramref name="Priority"/>) is claimed before every other command of its switch.
/// </summary>
public readonly record struct QueuedCommand(string CallId, DateTimeOffset DueAt, DateTimeOffset Deadline, bool Move, bool Priority = false);

/// <summary>
/// Each switch's queue in Redis (slot <c>{w:switchId}</c>): commands due to be sent, in flight until acknowledged,
/// their deadlines, and accepted callbacks awaiting an outcome. Every step is idempotent, so any replica may run any
/// of them; what a crash between two steps leaves is found by the sweep (leased overdue entries) and moved through the
/// lifecycle's door. Writes from many callers at once go as one run per script, merged per switch.
/// </summary>
public sealed class SwitchQueues(IConnectionMultiplexer redis, IOptions<RedisOptions> options)
{
    private static readonly RedisScript ClaimDue = LuaResources.Load("claim_due.lua");
    private static readonly RedisScript Enqueue = LuaResources.Load("enqueue.lua", prelude: LuaResources.Each);
    private static readonly RedisScript Park = LuaResources.Load("park.lua", prelude: LuaResources.Each);
    private static readonly RedisScript Settle = LuaResources.Load("settle.lua");
    private static readonly RedisScript Supervise = LuaResources.Load("supervise.lua", prelude: LuaResources.Each);
    private static readonly RedisScript Requeue = LuaResources.Load("requeue.lua");
    private static readonly RedisScript Sweep = LuaResources.Load("sweep.lua");
    private static readonly RedisScript DeclareRate = LuaResources.Load("declare_rate.lua");
    private static readonly RedisScript Reslot = LuaResources.Load("reslot.lua");

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
            { c.CallId, c.DueAt.ToUnixTimeMilliseconds(), c.Deadline.ToUnixTimeMilliseconds(), c.Move ? "move" : "ensure", c.Priority ? "1" : "0", _ttlMs })]);

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

    /// <summary>
    /// New send slots of the switch's pace for commands claimed that missed theirs (written too late to keep the pace),
    /// their acknowledgement deadlines moved with them.
    /// </summary>
    public async Task<IReadOnlyList<DateTimeOffset?>> ReslotAsync(string switchId, IReadOnlyList<string> callIds, DateTimeOffset now, TimeSpan acknowledgementTimeout, int admissionRate)
    {
        var result = (RedisResult[])(await Db.EvaluateAsync(Reslot, [_keys.InFlight(switchId), _keys.Admission(switchId)],
            [now.ToUnixTimeMilliseconds(), (long)acknowledgementTimeout.TotalMilliseconds, _ttlMs, admissionRate,
                (long)Pace.Lead.TotalMilliseconds, (long)Pace.Tolerance.TotalMilliseconds, .. callIds.Select(c => (RedisValue)c)]).ConfigureAwait(false))!;
        return [.. result.Select(r => SlotOf((long)r))];
    }

    /// <summary>
    /// Claims up to <paramref name="count"/> due commands of a switch, each with the time to send it; also says when to
    /// claim again (null: nothing left). Without an admission rate (commands per second, 0: none) every command goes at
    /// once; with one, each gets a slot of the switch's pace, shared by every replica (<see cref="Pace"/>).
    /// </summary>
    public async Task<(IReadOnlyList<(string CallId, DateTimeOffset? SendAt)> Claimed, DateTimeOffset? NextDue)> ClaimDueAsync(string switchId, int count, DateTimeOffset now, TimeSpan acknowledgementTimeout, int admissionRate = 0)
    {
        var result = (RedisResult[])(await Db.EvaluateAsync(ClaimDue, [_keys.Due(switchId), _keys.InFlight(switchId), _keys.Admission(switchId), _keys.PriorityDue(switchId)],
            [now.ToUnixTimeMilliseconds(), count, (long)acknowledgementTimeout.TotalMilliseconds, _ttlMs, admissionRate,
                (long)Pace.Lead.TotalMilliseconds, (long)Pace.Horizon.TotalMilliseconds, (long)Pace.Tolerance.TotalMilliseconds]).ConfigureAwait(false))!;
        var ids = (RedisResult[])result[0]!;
        var slots = (RedisResult[])result[1]!;
        IReadOnlyList<(string, DateTimeOffset?)> claimed = [.. ids.Select((r, i) => ((string)r!, SlotOf((long)slots[i])))];
        return (claimed, result[2].IsNull ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)(double)result[2]));
    }

    /// <summary>A send slot as the scripts give it: none (0) for an unpaced switch's command, written at once.</summary>
    private static DateTimeOffset? SlotOf(long ms) => ms > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>Declares the admission rate of a switch instance (0: none) and says the rate the pool is held to now: the lowest declared lately, else this one.</summary>
    public async Task<int> DeclareRateAsync(string switchId, int declared, DateTimeOffset now)
    {
        var reply = await Db.EvaluateAsync(DeclareRate, [_keys.Admission(switchId)], [now.ToUnixTimeMilliseconds(), declared, _ttlMs]).ConfigureAwait(false);
        return (int)(long)reply;
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
        var priority = Db.SortedSetLengthAsync(_keys.PriorityDue(switchId));
        var inFlight = Db.SortedSetLengthAsync(_keys.InFlight(switchId));
        return (await due.ConfigureAwait(false) + await priority.ConfigureAwait(false), await inFlight.ConfigureAwait(false));
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

    private RedisKey[] Keys(string switchId) =>
        [_keys.Due(switchId), _keys.InFlight(switchId), _keys.Deadlines(switchId), _keys.Supervised(switchId), _keys.PriorityDue(switchId), _keys.PriorityCalls(switchId)];
}
