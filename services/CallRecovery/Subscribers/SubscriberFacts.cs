using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CallRecovery.Policy;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Subscribers;

/// <summary>
/// An emergency call of <paramref name="Number"/>'s (made, or the emergency centre calling them back): it began at
/// <paramref name="Start"/> and, once reported ended, ended at <paramref name="End"/>.
/// </summary>
public sealed record EmergencyCall(string Number, string CallId, DateTimeOffset Start, DateTimeOffset? End);

/// <summary>One change of a subscriber's opt-out: what, when, who (the authenticated principal) and from where (the caller's address).</summary>
public sealed record OptOutChange(bool OptedOut, DateTimeOffset At, string By, string From)
{
    /// <summary>Reads a stored change; an opt-out set before changes were audited held only its time.</summary>
    public static OptOutChange Read(string stored) =>
        stored.StartsWith('{')
            ? JsonSerializer.Deserialize(stored, SubscriberJson.Default.OptOutChange) ?? throw new FormatException("Empty opt-out change.")
            : new OptOutChange(true, DateTimeOffset.TryParse(stored, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : DateTimeOffset.UnixEpoch, "unknown (set before opt-outs were audited)", "unknown");
}

/// <summary>Whether a party may be called now: not opted out, not under an emergency call's protection; and whether CRM flags them vulnerable.</summary>
public readonly record struct PartyFacts(bool OptedOut, bool Protected, bool NotNow = false, bool Vulnerable = false);

/// <summary>A CRM vulnerability flag: until when, set when, by whom (the authenticated principal), from where.</summary>
public sealed record VulnerableFlag(DateTimeOffset Until, DateTimeOffset At, string By, string From);

/// <summary>Two parties reached each other in a call answered then.</summary>
public sealed record PartiesConnected(string CallId, string Caller, string Callee, DateTimeOffset AnsweredAt);

/// <summary>
/// What we know about subscribers, in Redis under their own keys (slot <c>{s:...}</c>, or <c>{p:...}</c> for a pair):
/// opt-outs with their audit trail, emergency calls and the protection they give, when a subscriber was last
/// reachable, which calls they dropped (for lookups), and which parties reached each other. Decisions, dispatch, the
/// HTTP API and the lookup read and write these through here only.
/// </summary>
public sealed class SubscriberFacts(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<RecoveryPolicyOptions> policy, IOptions<SwitchingOptions> switching, TimeProvider time)
{
    private static readonly RedisScript PartyFactsScript = LuaResources.Load("party_facts.lua");
    private static readonly RedisScript Protect = LuaResources.Load("protect.lua");
    private static readonly RedisScript MarkReachable = LuaResources.Load("mark_reachable.lua");
    private static readonly RedisScript RecordConnection = LuaResources.Load("record_connection.lua");
    private static readonly RedisScript ConnectionsSince = LuaResources.Load("connections_since.lua");
    private static readonly RedisScript NotNow = LuaResources.Load("not_now.lua");

    /// <summary>How many opt-out changes each subscriber's audit trail keeps.</summary>
    public const int OptOutAuditLength = 50;

    private readonly SubscriberKeys _keys = SubscriberKeys.For(redisOptions.Value);
    private readonly TimeSpan _retention = redisOptions.Value.Retention;
    private readonly RecoveryPolicyOptions _policy = policy.Value;
    private readonly TimeSpan _deadline = switching.Value.CallbackDeadline;

    /// <summary>
    /// Each party's opt-out and emergency protection as of <paramref name="now"/>, in the order asked; one run for all.
    /// With <paramref name="callBackPairs"/> the numbers come as (customer, other party) pairs and each customer's
    /// vulnerability flag is read too.
    /// </summary>
    public async Task<IReadOnlyList<PartyFacts>> FactsAsync(IReadOnlyList<string> numbers, DateTimeOffset now, bool callBackPairs = false)
    {
        var replies = await redis.GetDatabase().EvaluateEachAsync(PartyFactsScript, [.. numbers.Select((n, i) =>
            new ScriptCall(callBackPairs && i % 2 == 0 ? [_keys.OptOut(n), _keys.EmergencyProtection(n), _keys.NotNow(n), _keys.Vulnerable(n)] : [_keys.OptOut(n), _keys.EmergencyProtection(n), _keys.NotNow(n)],
                [now.ToUnixTimeMilliseconds()]))]).ConfigureAwait(false);
        return [.. replies.Select(r => (long[])r!).Select(f => new PartyFacts(f[0] > 0, f[1] > 0, f[2] > 0, f[3] > 0))];
    }

    /// <summary>
    /// Emergency calls: nothing of ours may call these subscribers until <see cref="RecoveryPolicyOptions.EmergencyProtection"/>
    /// after the call ends; while it is only known connected, until <see cref="RecoveryPolicyOptions.EmergencyCallLimit"/>
    /// after it began and the protection after that.
    /// </summary>
    public Task ProtectAsync(IReadOnlyList<EmergencyCall> calls, DateTimeOffset now) =>
        redis.GetDatabase().EvaluateEachAsync(Protect, [.. calls
            .Where(c => PhoneNumbers.IsE164(c.Number))
            .Select(c => (Call: c, Until: ProtectedUntil(c)))
            .Where(c => c.Until > now)
            .Select(c => new ScriptCall([_keys.EmergencyProtection(c.Call.Number)],
                [c.Call.CallId, c.Until.ToUnixTimeMilliseconds(), c.Call.End is null ? "connected" : "ended", now.ToUnixTimeMilliseconds()]))]);

    /// <summary>Until when an emergency call protects its subscriber.</summary>
    public DateTimeOffset ProtectedUntil(EmergencyCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        return (call.End ?? call.Start + _policy.EmergencyCallLimit) + _policy.EmergencyProtection;
    }

    /// <summary>Customers who asked for no callbacks until a time: remembered until then (the latest end wins); one run for all.</summary>
    public Task NotNowAsync(IReadOnlyList<(string Number, DateTimeOffset Until)> customers, DateTimeOffset now) =>
        customers.Count == 0 ? Task.CompletedTask : redis.GetDatabase().EvaluateEachAsync(NotNow, [.. customers.Select(c =>
            new ScriptCall([_keys.NotNow(c.Number)], [c.Until.ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds()]))]);

    /// <summary>Until when a customer asked for no callbacks, if they did and it lasts.</summary>
    public async Task<DateTimeOffset?> NotNowUntilAsync(string number) =>
        (await redis.GetDatabase().StringGetAsync(_keys.NotNow(number)).ConfigureAwait(false)).TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>
    /// Flags a customer vulnerable until <see cref="VulnerableFlag.Until"/> (at most <see cref="RecoveryPolicyOptions.VulnerableFlagLimit"/>
    /// from now, by the service's clock), or removes the flag (null): their next recoveries go first in their switch's queue.
    /// </summary>
    public Task SetVulnerableAsync(string number, VulnerableFlag? flag, DateTimeOffset now)
    {
        var db = redis.GetDatabase();
        if (flag is null)
        {
            return db.KeyDeleteAsync(_keys.Vulnerable(number));
        }

        var lasts = flag.Until - now;
        return lasts <= TimeSpan.Zero
            ? db.KeyDeleteAsync(_keys.Vulnerable(number))
            : db.StringSetAsync(_keys.Vulnerable(number), JsonSerializer.Serialize(flag, SubscriberJson.Default.VulnerableFlag), lasts);
    }

    /// <summary>A customer's vulnerability flag, while it lasts.</summary>
    public async Task<VulnerableFlag?> VulnerableAsync(string number)
    {
        var stored = await redis.GetDatabase().StringGetAsync(_keys.Vulnerable(number)).ConfigureAwait(false);
        return stored.IsNull ? null : JsonSerializer.Deserialize(stored.ToString(), SubscriberJson.Default.VulnerableFlag);
    }

    /// <summary>Remembers when subscribers were reachable (the latest time wins), as long as a callback could wait for it: one run for a batch's subscribers.</summary>
    public Task MarkReachableAsync(IReadOnlyList<(string Number, DateTimeOffset At)> subscribers) =>
        redis.GetDatabase().EvaluateEachAsync(MarkReachable, [.. subscribers.Select(s =>
            new ScriptCall([_keys.Reachable(s.Number)], [s.At.ToUnixTimeMilliseconds(), (long)(_deadline + TimeSpan.FromMinutes(1)).TotalMilliseconds]))]);

    /// <summary>When each subscriber was last reachable, if known.</summary>
    public async Task<IReadOnlyList<DateTimeOffset?>> ReachableAtAsync(IReadOnlyList<string> numbers)
    {
        var db = redis.GetDatabase();
        var reads = numbers.Select(n => db.StringGetAsync(_keys.Reachable(n))).ToArray();
        await Task.WhenAll(reads).ConfigureAwait(false);
        return [.. reads.Select(r => r.Result.TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null)];
    }

    /// <summary>
    /// Files dropped calls under their parties for engineers' lookups, kept for the retention (and until the end of
    /// their drop's day): one <c>ZADD</c> and one <c>PEXPIRE NX</c> per shard and day a batch names, not per call.
    /// </summary>
    public Task IndexCallsAsync(IReadOnlyList<(string Number, string CallId, DateTimeOffset DropTime)> calls)
    {
        var now = time.GetUtcNow();
        var db = redis.GetDatabase();
        var writes = new List<Task>();
        foreach (var shardDay in calls.Where(c => PhoneNumbers.IsE164(c.Number))
            .Select(c => (Name: _keys.Name(c.Number), c.CallId, c.DropTime, Day: DateOnly.FromDateTime(c.DropTime.UtcDateTime)))
            .GroupBy(c => (Key: _keys.CallIndex(c.Name, c.Day), c.Day)))
        {
            // Kept until the retention has passed since the end of the day (by the service's clock, as every expiry).
            var (key, day) = shardDay.Key;
            var keep = day.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc) + _retention - now.UtcDateTime;
            if (keep <= TimeSpan.Zero)
            {
                // A replay of drops older than the retention: nothing to keep.
                continue;
            }

            writes.Add(db.SortedSetAddAsync(key, [.. shardDay.Select(c => new SortedSetEntry(SubscriberKeys.CallIndexEntry(c.Name, c.CallId, c.DropTime), 0))]));
            writes.Add(db.KeyExpireAsync(key, keep, ExpireWhen.HasNoExpiry));
        }

        return Task.WhenAll(writes);
    }

    /// <summary>
    /// A subscriber's most recent dropped calls within the retention, newest first (by their latest report's drop time;
    /// equal times by call id, descending), each once.
    /// </summary>
    public async Task<IReadOnlyList<string>> CallsOfAsync(string number, int most)
    {
        var now = time.GetUtcNow();
        var since = now - _retention;
        var name = _keys.Name(number);
        var db = redis.GetDatabase();
        // Each day from tomorrow (a network element's clock ahead of ours) back to the retention's start; a call's
        // reports (each leg's) may name different drop times, so more than the calls wanted are read per day.
        var days = new List<Task<RedisValue[]>>();
        for (var day = DateOnly.FromDateTime(now.UtcDateTime).AddDays(1); day >= DateOnly.FromDateTime(since.UtcDateTime); day = day.AddDays(-1))
        {
            days.Add(db.SortedSetRangeByValueAsync(_keys.CallIndex(name, day), name + "|", name + "}", Exclude.Stop, Order.Descending, 0, 4L * most));
        }

        // Calls indexed under the subscriber's own set (before 2026-12-07), until it expires.
        var before = db.SortedSetRangeByRankWithScoresAsync(_keys.Calls(number), 0, most - 1, Order.Descending);
        await Task.WhenAll(days.Append<Task>(before)).ConfigureAwait(false);
        var calls = days.SelectMany(d => d.Result).Select(member => member.ToString().Split('|', 3))
            .Select(parts => (CallId: parts[2], At: long.Parse(parts[1], CultureInfo.InvariantCulture)))
            .Concat(before.Result.Select(e => (CallId: e.Element.ToString(), At: (long)e.Score)));
        return [.. calls.Where(c => c.At >= since.ToUnixTimeMilliseconds())
            .OrderByDescending(c => c.At).ThenByDescending(c => c.CallId, StringComparer.Ordinal)
            .Select(c => c.CallId).Distinct(StringComparer.Ordinal).Take(most)];
    }

    /// <summary>Remembers that parties reached each other, until callbacks between them are past their deadline.</summary>
    public Task RecordConnectionsAsync(IReadOnlyList<PartiesConnected> connections, DateTimeOffset now) =>
        redis.GetDatabase().EvaluateEachAsync(RecordConnection, [.. connections.Select(c => new ScriptCall([_keys.PairConnections(c.Caller, c.Callee)],
            [c.CallId, c.AnsweredAt.ToUnixTimeMilliseconds(), (now - _deadline).ToUnixTimeMilliseconds(), (long)(_deadline + TimeSpan.FromMinutes(1)).TotalMilliseconds]))]);

    /// <summary>
    /// For each pair and drop time: the calls (at most two) in which the two parties reached each other after the
    /// drop, less the clock tolerance between network elements (the dropped call's own id may be among them).
    /// </summary>
    public async Task<IReadOnlyList<IReadOnlyList<string>>> ConnectedSinceAsync(IReadOnlyList<(string A, string B, DateTimeOffset Since)> pairs)
    {
        var replies = await redis.GetDatabase().EvaluateEachAsync(ConnectionsSince, [.. pairs.Select(p => new ScriptCall([_keys.PairConnections(p.A, p.B)],
            [(p.Since - _policy.ClockTolerance).ToUnixTimeMilliseconds()]))]).ConfigureAwait(false);
        return [.. replies.Select(r => (IReadOnlyList<string>)[.. ((RedisValue[])r!).Select(v => v.ToString())])];
    }

    /// <summary>
    /// Sets or removes a subscriber's opt-out and appends the change to their audit trail, in one transaction (both
    /// keys are the subscriber's slot). The opt-out key holds the change that set it; the trail keeps the latest
    /// <see cref="OptOutAuditLength"/> changes, set and removed, as long as an opt-out lasts.
    /// </summary>
    public async Task SetOptOutAsync(string number, OptOutChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var json = JsonSerializer.Serialize(change, SubscriberJson.Default.OptOutChange);
        var transaction = redis.GetDatabase().CreateTransaction();
        _ = change.OptedOut
            ? transaction.StringSetAsync(_keys.OptOut(number), json, _policy.OptOutDuration)
            : transaction.KeyDeleteAsync(_keys.OptOut(number));
        _ = transaction.ListLeftPushAsync(_keys.OptOutAudit(number), json);
        _ = transaction.ListTrimAsync(_keys.OptOutAudit(number), 0, OptOutAuditLength - 1);
        _ = transaction.KeyExpireAsync(_keys.OptOutAudit(number), _policy.OptOutDuration);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>The change that set the current opt-out (null when not opted out) and the audit trail, newest first.</summary>
    public async Task<(OptOutChange? Current, IReadOnlyList<OptOutChange> Trail)> GetOptOutAsync(string number)
    {
        var db = redis.GetDatabase();
        var current = db.StringGetAsync(_keys.OptOut(number));
        var trail = db.ListRangeAsync(_keys.OptOutAudit(number));
        await Task.WhenAll(current, trail).ConfigureAwait(false);
        return (current.Result.IsNull ? null : OptOutChange.Read(current.Result.ToString()), [.. trail.Result.Select(v => OptOutChange.Read(v.ToString()))]);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OptOutChange))]
[JsonSerializable(typeof(VulnerableFlag))]
internal sealed partial class SubscriberJson : JsonSerializerContext;
