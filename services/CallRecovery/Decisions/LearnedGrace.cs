using System.Collections.Concurrent;
using System.Globalization;
using CallRecovery.Policy;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Decisions;

/// <summary>
/// The grace period that learns (<c>Switching:LearnedGrace</c>): every replica counts, per serving cell and its area,
/// the drops that became recoveries and the recoveries whose parties redialled by themselves, by how soon (Redis, one
/// hash per place, slot <c>{o:grace:...}</c>); each replica keeps the grace it chose for a place for
/// <see cref="LearnedGraceOptions.Refresh"/> and reads again after (a cache of what Redis holds: no replica needs
/// another's). <see cref="GraceRule"/> makes the choice.
/// </summary>
public sealed class LearnedGrace(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<SwitchingOptions> switching)
{
    private static readonly RedisScript Learn = LuaResources.Load("learn_grace.lua");

    /// <summary>Places a replica remembers before it starts afresh (a network has tens of thousands of cells).</summary>
    private const int MostPlaces = 200_000;

    private readonly RedisKeys _keys = RedisKeys.For(redisOptions.Value);
    private readonly LearnedGraceOptions _options = switching.Value.LearnedGrace;
    private readonly TimeSpan _default = switching.Value.GracePeriod;
    private readonly long _ttlMs = (long)TimeSpan.FromDays(30).TotalMilliseconds;
    private readonly ConcurrentDictionary<string, (DateTimeOffset ReadAt, LearnedGraceChoice Choice)> _chosen = new(StringComparer.Ordinal);

    public bool Enabled => _options.Enabled;

    /// <summary>Reads what the batch's cells (not read within the refresh time) and their areas have shown, so <see cref="ChoiceFor"/> answers from it.</summary>
    public async Task PrepareAsync(IEnumerable<string> cells, DateTimeOffset now)
    {
        if (!Enabled)
        {
            return;
        }

        var stale = cells.Distinct(StringComparer.Ordinal).Where(c => !_chosen.TryGetValue(c, out var known) || now - known.ReadAt >= _options.Refresh).ToList();
        if (stale.Count == 0)
        {
            return;
        }

        if (_chosen.Count > MostPlaces)
        {
            _chosen.Clear();
        }

        var db = redis.GetDatabase();
        var reads = stale.Select(c => (Cell: db.HashGetAllAsync(CellKey(c)), Area: GraceRule.AreaOf(c) is { } area ? db.HashGetAllAsync(AreaKey(area)) : Task.FromResult(Array.Empty<HashEntry>()))).ToList();
        await Task.WhenAll(reads.SelectMany(r => new[] { r.Cell, r.Area })).ConfigureAwait(false);
        for (var i = 0; i < stale.Count; i++)
        {
            _chosen[stale[i]] = (now, GraceRule.Choose(stale[i], Read(reads[i].Cell.Result), Read(reads[i].Area.Result), _options, _default));
        }
    }

    /// <summary>The grace for a drop in <paramref name="cell"/>: as prepared, or the default when it was not.</summary>
    public LearnedGraceChoice ChoiceFor(string cell) =>
        _chosen.TryGetValue(cell, out var known) ? known.Choice : new LearnedGraceChoice(_default, "default", "the default (Switching:GracePeriod): nothing read for this cell yet");

    /// <summary>Recoveries created: one more drop for each one's cell and area.</summary>
    public Task CountDropsAsync(IReadOnlyList<string> cells) =>
        !Enabled || cells.Count == 0 ? Task.CompletedTask : redis.GetDatabase().EvaluateEachAsync(Learn, [.. Places(cells).Select(key => Call(key, "drop", 0))]);

    /// <summary>Recoveries whose parties redialled by themselves, this long after the drop: counted for their cell and area.</summary>
    public Task CountRedialsAsync(IReadOnlyList<(string Cell, TimeSpan AfterDrop)> redials) =>
        !Enabled || redials.Count == 0 ? Task.CompletedTask : redis.GetDatabase().EvaluateEachAsync(Learn,
            [.. redials.SelectMany(r => Places([r.Cell]).Select(key => Call(key, "redial", GraceRule.BucketOf(r.AfterDrop))))]);

    private IEnumerable<RedisKey> Places(IEnumerable<string> cells) =>
        cells.Where(c => c.Length > 0).SelectMany(c => GraceRule.AreaOf(c) is { } area ? new[] { CellKey(c), AreaKey(area) } : [CellKey(c)]);

    private ScriptCall Call(RedisKey key, string kind, int bucket) => new([key], [kind, bucket, _options.Memory, _ttlMs]);

    private RedisKey CellKey(string cell) => _keys.Scope("grace:cell:" + cell, "redials");

    private RedisKey AreaKey(string area) => _keys.Scope("grace:area:" + area, "redials");

    private static PlaceRedials Read(HashEntry[] entries)
    {
        long drops = 0, redials = 0;
        var within = new Dictionary<int, long>();
        foreach (var entry in entries)
        {
            var name = entry.Name.ToString();
            var count = (long)entry.Value;
            if (name == "drops")
            {
                drops = count;
            }
            else if (name == "redials")
            {
                redials = count;
            }
            else if (name.StartsWith('b') && int.TryParse(name.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            {
                within[seconds] = count;
            }
        }

        return new PlaceRedials(drops, redials, within);
    }
}
