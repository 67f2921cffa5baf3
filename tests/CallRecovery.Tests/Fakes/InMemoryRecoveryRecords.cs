using System.Collections.Concurrent;
using System.Globalization;
using CallRecovery.Recoveries;

namespace CallRecovery.Tests.Fakes;

/// <summary>Recoveries kept in memory, with the same version check as the Redis store: for fast tests of the door and of the edges that use it.</summary>
public sealed class InMemoryRecoveryRecords : IRecoveryRecords
{
    private readonly ConcurrentDictionary<string, Dictionary<string, string>> _records = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Writes that found the recovery changed since it was read (the door decided again).</summary>
    public int Conflicts { get; private set; }

    /// <summary>Called before each write lands: a test can slip in another move here, as a second replica would.</summary>
    public Action<string>? BeforeWrite { get; set; }

    public StoredRecovery? Get(string callId)
    {
        lock (_lock)
        {
            return _records.TryGetValue(callId, out var fields) ? Stored(fields) : null;
        }
    }

    /// <summary>Stores a recovery as given (state, attempts and all), as if moves had brought it there.</summary>
    public void Put(RecoveryRecord recovery, params (string Field, string Value)[] extra)
    {
        lock (_lock)
        {
            var fields = recovery.ToFields().ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
            fields[RecoveryFields.Version] = "1";
            foreach (var (field, value) in extra)
            {
                fields[field] = value;
            }

            _records[recovery.CallId] = fields;
        }
    }

    /// <summary>Recoveries read (each id of each read).</summary>
    public int Reads => _reads;

    private int _reads;

    public Task<IReadOnlyList<StoredRecovery?>> ReadAsync(IReadOnlyList<string> callIds)
    {
        Interlocked.Add(ref _reads, callIds.Count);
        return Task.FromResult<IReadOnlyList<StoredRecovery?>>([.. callIds.Select(Get)]);
    }

    public Task<RecordWrite> WriteAsync(string callId, long version, IReadOnlyList<KeyValuePair<string, string>> writes)
    {
        BeforeWrite?.Invoke(callId);
        lock (_lock)
        {
            if (!_records.TryGetValue(callId, out var fields))
            {
                return Task.FromResult(new RecordWrite(false, null));
            }

            if (VersionOf(fields) != version)
            {
                Conflicts++;
                return Task.FromResult(new RecordWrite(false, Stored(fields)));
            }

            foreach (var (name, value) in writes)
            {
                fields[name] = value;
            }

            fields[RecoveryFields.Version] = (version + 1).ToString(CultureInfo.InvariantCulture);
            return Task.FromResult(new RecordWrite(true, null));
        }
    }

    public Task<(StoredRecovery Stored, bool Created)> CreateAsync(RecoveryRecord recovery)
    {
        lock (_lock)
        {
            if (_records.TryGetValue(recovery.CallId, out var existing))
            {
                return Task.FromResult((Stored(existing), false));
            }

            Put(recovery);
            return Task.FromResult((Stored(_records[recovery.CallId]), true));
        }
    }

    private static StoredRecovery Stored(Dictionary<string, string> fields) => new(new Dictionary<string, string>(fields, StringComparer.Ordinal), VersionOf(fields));

    private static long VersionOf(Dictionary<string, string> fields) => long.Parse(fields.GetValueOrDefault(RecoveryFields.Version, "0"), CultureInfo.InvariantCulture);
}
