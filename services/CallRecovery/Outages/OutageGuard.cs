using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Outages;

/// <summary>A cell or a switching node, as an outage is counted and declared over.</summary>
public readonly record struct OutageScope(string Kind, string Name)
{
    public const string Cell = "cell";
    public const string Node = "node";

    /// <summary>How the scope appears in keys and incident ids: its kind and a hash of its name (names are free text).</summary>
    public string Id => $"{Kind}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Kind + "|" + Name)).AsSpan(0, 8))}";
}

/// <summary>Traffic seen in a cell or node at a time (a call answered or connected there, or the cell reported back in service).</summary>
public readonly record struct OutageTraffic(OutageScope Scope, DateTimeOffset At, string Evidence, bool Reported = false);

/// <summary>An outage incident: mass drops from one cell or node, declared at <see cref="Start"/>, ended by traffic.</summary>
public sealed record OutageIncident(string Id, string Kind, string Name, DateTimeOffset Start, long Drops, long Held, string State, DateTimeOffset? End, string EndedBy);

/// <summary>What counting a batch's drops found: the incident each call belongs to, and incidents declared now with the calls decided before.</summary>
public sealed record OutageCount(IReadOnlyDictionary<string, string> IncidentOfCall, IReadOnlyList<(string IncidentId, IReadOnlyList<string> EarlierCalls)> Declared)
{
    public static OutageCount None { get; } = new(new Dictionary<string, string>(), []);
}

/// <summary>
/// The storm guard. Drops are counted per serving cell and per switching node in a sliding window in Redis (one
/// script per scope and batch); at the threshold an incident is declared, and the recoveries of that scope are
/// held instead of dispatched. Traffic from the scope after the incident began (a call connected or answered there,
/// or a cell-in-service event) ends it, and its held recoveries are released to their switch's queue, where the
/// switch's admission rate paces them. Every replica sees the same incidents; each keeps the set of open scopes,
/// refreshed every sweep, so that only traffic from an open scope costs a Redis call.
/// </summary>
public sealed partial class OutageGuard(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<OutageOptions> options, CallRecoveryTelemetry telemetry, TimeProvider time, ILogger<OutageGuard> logger)
{
    /// <summary>An incident nobody ended (no traffic evidence ever came) is dropped after this long; its recoveries are long expired.</summary>
    private static readonly TimeSpan LongestIncident = TimeSpan.FromHours(12);

    private readonly RedisKeys _keys = RedisKeys.For(redisOptions.Value);
    private readonly OutageOptions _options = options.Value;
    private readonly long _retentionMs = (long)redisOptions.Value.Retention.TotalMilliseconds;
    private volatile IReadOnlySet<string> _openScopes = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Open incidents and the recoveries they hold, as of the last refresh (for the gauges).</summary>
    public (long Open, long Held) Gauges { get; private set; }

    /// <summary>Counts candidate drops per cell and node; declares incidents at the thresholds.</summary>
    public async Task<OutageCount> CountAsync(IReadOnlyList<CallDrop> drops)
    {
        if (!_options.Enabled || drops.Count == 0)
        {
            return OutageCount.None;
        }

        var now = time.GetUtcNow();
        var byScope = drops.SelectMany(d => new[] { (Scope: new OutageScope(OutageScope.Cell, d.ServingCell), Drop: d), (Scope: new OutageScope(OutageScope.Node, d.SwitchingNode), Drop: d) })
            .Where(s => s.Scope.Name.Length > 0)
            .GroupBy(s => s.Scope)
            .ToList();
        var replies = await redis.GetDatabase().EvaluateEachAsync(OutageScripts.CountDrops, [.. byScope.Select(g =>
        {
            var (scope, id) = (g.Key, g.Key.Id);
            var threshold = scope.Kind == OutageScope.Cell ? _options.CellThreshold : _options.NodeThreshold;
            return new ScriptCall([_keys.OutageDrops(id), _keys.OutageIncident(id), _keys.OutageLastEnded(id)],
            [
                now.ToUnixTimeMilliseconds(), (long)_options.Window.TotalMilliseconds, threshold, (long)LongestIncident.TotalMilliseconds, scope.Kind, scope.Name, id,
                .. g.Select(s => s.Drop).DistinctBy(d => d.CallId).SelectMany(d => new RedisValue[] { d.CallId, d.DropTime.ToUnixTimeMilliseconds() }),
            ]);
        })]).ConfigureAwait(false);

        var incidentOfCall = new Dictionary<string, string>(StringComparer.Ordinal);
        var declared = new List<(string, IReadOnlyList<string>)>();
        for (var i = 0; i < byScope.Count; i++)
        {
            var reply = (RedisResult[])replies[i]!;
            if (reply[0].IsNull || (string?)reply[0] is not { Length: > 0 } incidentId)
            {
                continue;
            }

            foreach (var (scope, drop) in byScope[i])
            {
                // A cell's incident names the call before its node's: the cell is where traffic will show first.
                if (scope.Kind == OutageScope.Cell || !incidentOfCall.ContainsKey(drop.CallId))
                {
                    incidentOfCall[drop.CallId] = incidentId;
                }
            }

            if ((long)reply[1] is 1 or 2)
            {
                var scope = byScope[i].Key;
                declared.Add((incidentId, [.. ((RedisResult[])reply[2]!).Select(r => (string)r!)]));
                var (scopeId, startMs) = TryParseId(incidentId, out var parsedScope, out var parsedStart) ? (parsedScope, parsedStart) : throw new FormatException("Not an incident id.");
                await Task.WhenAll(
                    redis.GetDatabase().SortedSetAddAsync(_keys.Incidents(), incidentId, startMs),
                    redis.GetDatabase().SetAddAsync(_keys.OpenIncidents(), incidentId)).ConfigureAwait(false);
                _openScopes = new HashSet<string>(_openScopes.Append(scopeId), StringComparer.Ordinal);
                if ((long)reply[1] == 2)
                {
                    telemetry.IncidentDeclared(scope.Kind);
                    LogDeclared(incidentId, scope.Kind, scope.Name, ((RedisResult[])reply[2]!).Length);
                }
            }
        }

        return new OutageCount(incidentOfCall, declared);
    }

    /// <summary>What follows a declaration is done (its earlier calls held and filed): the incident is no longer declared again.</summary>
    public Task MarkAnnouncedAsync(string incidentId) =>
        redis.GetDatabase().EvaluateAsync(OutageScripts.AnnounceIncident, [_keys.OutageIncident(ScopeIdOf(incidentId))], [incidentId]);

    /// <summary>Files held recoveries under their incident; false when it has ended meanwhile (release them).</summary>
    public async Task<bool> FileHeldAsync(string incidentId, IReadOnlyCollection<string> callIds)
    {
        var scopeId = ScopeIdOf(incidentId);
        return callIds.Count == 0 || (long)(await redis.GetDatabase().EvaluateAsync(OutageScripts.HoldCall, [_keys.OutageIncident(scopeId), _keys.OutageHeld(scopeId)],
            [incidentId, (long)LongestIncident.TotalMilliseconds, .. callIds.Select(c => (RedisValue)c)]).ConfigureAwait(false)) == 1;
    }

    /// <summary>
    /// Traffic seen in these scopes at these times: ends their open incidents begun before it. Returns each ended
    /// incident with the call ids it held. Scopes with no open incident (as last refreshed) cost nothing.
    /// </summary>
    public async Task<IReadOnlyList<(string IncidentId, IReadOnlyList<string> Held)>> TrafficAsync(IReadOnlyList<OutageTraffic> traffic)
    {
        var open = _openScopes;
        if (!_options.Enabled || (open.Count == 0 && !traffic.Any(t => t.Reported)))
        {
            // No outage anywhere (the usual case): traffic costs nothing.
            return [];
        }

        // A cell reported in service is always looked up (it is rare, and this replica may not have heard of the
        // incident yet); other traffic only for scopes known to be in an outage.
        var candidates = traffic.Where(t => t.Scope.Name.Length > 0).Select(t => (t.Scope.Id, t.At, t.Evidence, t.Reported))
            .Where(t => t.Reported || open.Contains(t.Id)).GroupBy(t => t.Id).Select(g => g.MaxBy(t => t.At)).ToList();
        if (candidates.Count == 0)
        {
            return [];
        }

        var now = time.GetUtcNow();
        var replies = await redis.GetDatabase().EvaluateEachAsync(OutageScripts.EndIncident, [.. candidates.Select(t => new ScriptCall(
            [_keys.OutageIncident(t.Id), _keys.OutageHeld(t.Id), _keys.OutageDrops(t.Id), _keys.OutageArchive(t.Id, 0).ToString()[..^1], _keys.OutageLastEnded(t.Id)],
            [now.ToUnixTimeMilliseconds(), t.At.ToUnixTimeMilliseconds(), t.Evidence, _retentionMs]))]).ConfigureAwait(false);
        var ended = new List<(string, IReadOnlyList<string>)>();
        foreach (var reply in replies)
        {
            if (reply.IsNull || reply.Resp2Type != ResultType.Array)
            {
                continue;
            }

            var parts = (RedisResult[])reply!;
            var id = (string)parts[0]!;
            IReadOnlyList<string> held = [.. ((RedisResult[])parts[1]!).Select(r => (string)r!)];
            ended.Add((id, held));
            await redis.GetDatabase().SetRemoveAsync(_keys.OpenIncidents(), id).ConfigureAwait(false);
            LogEnded(id, held.Count);
        }

        if (ended.Count > 0)
        {
            await RefreshAsync().ConfigureAwait(false);
        }

        return ended;
    }

    /// <summary>Reads which scopes have an open incident (and how many recoveries they hold), dropping incidents that expired unended.</summary>
    public async Task RefreshAsync()
    {
        if (!_options.Enabled)
        {
            return;
        }

        var db = redis.GetDatabase();
        var ids = (await db.SetMembersAsync(_keys.OpenIncidents()).ConfigureAwait(false)).Select(v => v.ToString()).ToList();
        var incidents = await Task.WhenAll(ids.Select(GetAsync)).ConfigureAwait(false);
        var stale = ids.Where((id, i) => incidents[i] is not { State: "open" }).ToArray();
        if (stale.Length > 0)
        {
            await db.SetRemoveAsync(_keys.OpenIncidents(), [.. stale.Select(s => (RedisValue)s)]).ConfigureAwait(false);
        }

        var open = incidents.OfType<OutageIncident>().Where(i => i.State == "open").ToList();
        _openScopes = new HashSet<string>(open.Select(i => ScopeIdOf(i.Id)), StringComparer.Ordinal);
        Gauges = (open.Count, open.Sum(i => i.Held));
    }

    /// <summary>An incident by id, open or ended (while kept); null when unknown.</summary>
    public async Task<OutageIncident?> GetAsync(string incidentId)
    {
        if (!TryParseId(incidentId, out var scopeId, out var startMs))
        {
            return null;
        }

        var db = redis.GetDatabase();
        var current = await db.HashGetAllAsync(_keys.OutageIncident(scopeId)).ConfigureAwait(false);
        var fields = current.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        if (fields.GetValueOrDefault("id") != incidentId)
        {
            var archived = await db.HashGetAllAsync(_keys.OutageArchive(scopeId, startMs)).ConfigureAwait(false);
            fields = archived.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
            if (fields.GetValueOrDefault("id") != incidentId)
            {
                return null;
            }
        }

        long Number(string name) => long.TryParse(fields.GetValueOrDefault(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        var held = fields.ContainsKey("held") ? Number("held") : await db.SetLengthAsync(_keys.OutageHeld(scopeId)).ConfigureAwait(false);
        return new OutageIncident(incidentId, fields.GetValueOrDefault("kind", string.Empty), fields.GetValueOrDefault("name", string.Empty), DateTimeOffset.FromUnixTimeMilliseconds(Number("start")),
            Number("count"), held, fields.GetValueOrDefault("state", string.Empty), fields.ContainsKey("end") ? DateTimeOffset.FromUnixTimeMilliseconds(Number("end")) : null, fields.GetValueOrDefault("endedBy", string.Empty));
    }

    /// <summary>The latest incidents, newest first.</summary>
    public async Task<IReadOnlyList<OutageIncident>> LatestAsync(int most)
    {
        var ids = await redis.GetDatabase().SortedSetRangeByRankAsync(_keys.Incidents(), 0, most - 1, Order.Descending).ConfigureAwait(false);
        return [.. (await Task.WhenAll(ids.Select(id => GetAsync(id.ToString()))).ConfigureAwait(false)).OfType<OutageIncident>()];
    }

    private static string ScopeIdOf(string incidentId) => TryParseId(incidentId, out var scopeId, out _) ? scopeId : throw new FormatException("Not an incident id.");

    /// <summary>Incident ids are "kind-hash-start": e.g. cell-0123456789abcdef-1765000000000.</summary>
    public static bool TryParseId(string incidentId, out string scopeId, out long startMs)
    {
        scopeId = string.Empty;
        startMs = 0;
        var parts = incidentId.Split('-');
        if (parts is not [var kind, var hash, var start] || kind is not (OutageScope.Cell or OutageScope.Node) || hash.Length != 16 || !hash.All(char.IsAsciiHexDigitLower)
            || !long.TryParse(start, NumberStyles.None, CultureInfo.InvariantCulture, out startMs))
        {
            return false;
        }

        scopeId = $"{kind}-{hash}";
        return true;
    }

    [LoggerMessage(EventId = 3501, Level = LogLevel.Warning, Message = "Outage incident {IncidentId} declared: {Kind} {Scope}, {Drops} dropped calls in the window; its recoveries are held until it carries traffic again")]
    private partial void LogDeclared(string incidentId, string kind, string scope, int drops);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Information, Message = "Outage incident {IncidentId} ended: traffic again; releasing {Held} held recoveries at the switches' admission rates")]
    private partial void LogEnded(string incidentId, int held);
}

/// <summary>The storm guard's Redis scripts (Outages/Scripts).</summary>
internal static class OutageScripts
{
    public static readonly RedisScript CountDrops = LuaResources.Load("count_drops.lua");
    public static readonly RedisScript HoldCall = LuaResources.Load("hold_call.lua");
    public static readonly RedisScript EndIncident = LuaResources.Load("end_incident.lua");
    public static readonly RedisScript AnnounceIncident = LuaResources.Load("announce_incident.lua");
}
