using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Recoveries;

/// <summary>What writing a move found: written, or the recovery changed meanwhile (<see cref="Current"/>, null when gone).</summary>
public readonly record struct RecordWrite(bool Written, StoredRecovery? Current);

/// <summary>
/// Where recoveries are kept: read, created, and written only at the version they were read at. Only the door
/// (<see cref="RecoveryMoves"/>) uses it; it has a Redis implementation and, for fast tests, an in-memory one.
/// </summary>
public interface IRecoveryRecords
{
    Task<IReadOnlyList<StoredRecovery?>> ReadAsync(IReadOnlyList<string> callIds);

    /// <summary>Writes the fields if the recovery is still at <paramref name="version"/>.</summary>
    Task<RecordWrite> WriteAsync(string callId, long version, IReadOnlyList<KeyValuePair<string, string>> writes);

    /// <summary>Creates the recovery unless its call has one; returns the recovery as stored (the new one, or the one there) and whether it was created now.</summary>
    Task<(StoredRecovery Stored, bool Created)> CreateAsync(RecoveryRecord recovery);
}

/// <summary>
/// Recoveries in Redis, one hash per call (slot <c>{c:callId}</c>). A write is one script (<c>apply.lua</c>) that
/// checks the version and writes; concurrent writes and creations from many callers go as one run each.
/// </summary>
internal sealed class RedisRecoveryRecords(IConnectionMultiplexer redis, IOptions<RedisOptions> options) : IRecoveryRecords
{
    private static readonly RedisScript Apply = LuaResources.Load("apply.lua", prelude: RecoveryLifecycle.LuaPrelude());
    private static readonly RedisScript Create = LuaResources.Load("create_recovery.lua", prelude: RecoveryLifecycle.LuaPrelude());

    private readonly RecoveryKeys _keys = RecoveryKeys.For(options.Value);
    private readonly long _retentionMs = (long)options.Value.Retention.TotalMilliseconds;
    private readonly ScriptBatcher _writes = new(() => redis.GetDatabase(), Apply);
    private readonly ScriptBatcher _creates = new(() => redis.GetDatabase(), Create);

    public async Task<IReadOnlyList<StoredRecovery?>> ReadAsync(IReadOnlyList<string> callIds)
    {
        var db = redis.GetDatabase();
        var reads = callIds.Select(c => db.HashGetAllAsync(_keys.Recovery(c))).ToArray();
        var stored = new StoredRecovery?[reads.Length];
        for (var i = 0; i < reads.Length; i++)
        {
            var entries = await reads[i].ConfigureAwait(false);
            if (entries.Length > 0)
            {
                var fields = new Dictionary<string, string>(entries.Length, StringComparer.Ordinal);
                foreach (var entry in entries)
                {
                    fields[entry.Name.ToString()] = entry.Value.ToString();
                }

                stored[i] = StoredRecovery.Of(fields);
            }
        }

        return stored;
    }

    public async Task<RecordWrite> WriteAsync(string callId, long version, IReadOnlyList<KeyValuePair<string, string>> writes)
    {
        var reply = await _writes.EvaluateAsync([_keys.Recovery(callId)], Arguments(version, writes)).ConfigureAwait(false);
        if (reply.Resp2Type == ResultType.Integer)
        {
            return new RecordWrite(true, null);
        }

        var flat = (RedisResult[])reply!;
        return new RecordWrite(false, flat.Length == 0 ? null : StoredRecovery.FromFlatList([.. flat.Select(r => r.ToString() ?? string.Empty)]));
    }

    public async Task<(StoredRecovery Stored, bool Created)> CreateAsync(RecoveryRecord recovery)
    {
        var fields = recovery.ToFields();
        var reply = await _creates.EvaluateAsync([_keys.Recovery(recovery.CallId)], Arguments(_retentionMs, fields)).ConfigureAwait(false);
        return reply.Resp2Type == ResultType.Integer
            ? (new StoredRecovery(fields.Append(new(RecoveryFields.Version, "1")).ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal), 1), true)
            : (StoredRecovery.FromFlatList([.. ((RedisResult[])reply!).Select(r => r.ToString() ?? string.Empty)]), false);
    }

    /// <summary>A script's arguments: <paramref name="first"/>, then each field and its value.</summary>
    private static RedisValue[] Arguments(long first, IReadOnlyList<KeyValuePair<string, string>> fields)
    {
        var values = new RedisValue[1 + (2 * fields.Count)];
        values[0] = first;
        for (var i = 0; i < fields.Count; i++)
        {
            values[1 + (2 * i)] = fields[i].Key;
            values[2 + (2 * i)] = fields[i].Value;
        }

        return values;
    }
}
