using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
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
    public string Id => IdOf(Kind, Name);

    /// <summary>Kind, '-', and the first 8 bytes of SHA-256("kind|name") in lower-case hex (OutageScopeTests pins it: keys of every version are named by it).</summary>
    private static string IdOf(string kind, string name)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{kind}|{name}"), hash);
        return $"{kind}-{Convert.ToHexStringLower(hash[..8])}";
    }
}

/// <summary>Traffic seen in a cell or node at a time (a call answered or connected there, or the cell reported back in service).</summary>
public readonly record struct OutageTraffic(OutageScope Scope, DateTimeOffset At, string Evidence, bool Reported = false);

/// <summary>An outage incident: mass drops from one cell or node, declared at <see cref="Start"/>, ended by traffic.</summary>
public sealed record OutageIncident(string Id, string Kind, string Name, DateTimeOffset Start, long Drops, long Held, string State, DateTimeOffset? End, string EndedBy);

/// <summary>What counting a batch's drops found: the incident each call belongs to, and incidents declared now with the calls filed under them.</summary>
public sealed record OutageCount(IReadOnlyDictionary<string, string> IncidentOfCall, IReadOnlyList<(string IncidentId, IReadOnlyList<string> Filed)> Declared)
{
    public static OutageCount None { get; } = new(new Dictionary<string, string>(), []);
}

/// <summary>
/// The storm guard. Drops are counted per serving cell and per switching node in a sliding window in Redis (one
/// script per scope and batch); at the threshold an incident is declared, and every call counted in its scope from
/// then on (and in the window before) is filed under it in the same step. Recoveries of that scope are held instead of
/// dispatched, through the lifecycle's door. Traffic from the scope after the incident began (a call connected or
/// answered there, or a cell-in-service event) ends it: what it filed moves to a releasing set, and each recovery is
/// released through the door and only then taken out of the set, by the replica that ended it or, if that one
/// failed, by any replica's sweep. The switch's admission rate paces what is released. Every replica sees the same
/// incidents; each keeps the set of open scopes, refreshed every sweep, so only traffic from an open scope costs a Redis call.
/// </summary>
public sealed partial class OutageGuard(
    IConnectionMultiplexer redis,
    IOptions<RedisOptions> redisOptions,
    IOptions<OutageOptions> options,
    RecoveryMoves moves,
    CallRecoveryTelemetry telemetry,
    TimeProvider time,
    ILogger<OutageGuard> logger)
{
    private static readonly RedisScript CountDrops = LuaResources.Load("count_drops.lua");
    private static readonly RedisScript EndIncident = LuaResources.Load("end_incident.lua");
    private static readonly RedisScript AnnounceIncident = LuaResources.Load("announce_incident.lua");

    /// <summary>An incident nobody ended (no traffic evidence ever came) is dropped after this long; its recoveries are long expired.</summary>
    private static readonly TimeSpan LongestIncident = TimeSpan.FromHours(12);

    /// <summary>Recoveries released through the door at once.</summary>
    private const int ReleaseLot = 500;

    private readonly OutageKeys _keys = OutageKeys.For(redisOptions.Value);
    private readonly OutageOptions _options = options.Value;
    private readonly TimeSpan _retention = redisOptions.Value.Retention;
    private volatile IReadOnlySet<string> _openScopes = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Open incidents and the calls filed under them, as of the last refresh (for the gauges).</summary>
    public (long Open, long Held) Gauges { get; private set; }

    /// <summary>Counts candidate drops per cell and node; declares incidents at the thresholds, filing their calls.</summary>
    public async Task<OutageCount> CountAsync(IReadOnlyList<CallDrop> drops)
    {
        if (!_options.Enabled || drops.Count == 0)
        {
            return OutageCount.None;
        }

        var now = time.GetUtcNow();
        var byScope = ByScope(drops);
        var (nowMs, windowMs, longestMs) = (now.ToUnixTimeMilliseconds(), (long)_options.Window.TotalMilliseconds, (long)LongestIncident.TotalMilliseconds);
        var calls = new ScriptCall[byScope.Count];
        for (var i = 0; i < calls.Length; i++)
        {
            var (scope, scopeDrops) = byScope[i];
            var id = scope.Id;
            var values = new RedisValue[7 + (2 * scopeDrops.Count)];
            (values[0], values[1], values[2], values[3], values[4], values[5], values[6]) =
                (nowMs, windowMs, scope.Kind == OutageScope.Cell ? _options.CellThreshold : _options.NodeThreshold, longestMs, scope.Kind, scope.Name, id);
            for (var n = 0; n < scopeDrops.Count; n++)
            {
                values[7 + (2 * n)] = scopeDrops[n].CallId;
                values[8 + (2 * n)] = scopeDrops[n].DropTime.ToUnixTimeMilliseconds();
            }

            calls[i] = new ScriptCall([_keys.Drops(id), _keys.Incident(id), _keys.LastEnded(id), _keys.Held(id)], values);
        }

        var db = redis.GetDatabase();
        var replies = await db.EvaluateEachAsync(CountDrops, calls).ConfigureAwait(false);

        var incidentOfCall = new Dictionary<string, string>(StringComparer.Ordinal);
        var declared = new List<(string, IReadOnlyList<string>)>();
        for (var i = 0; i < byScope.Count; i++)
        {
            var reply = (RedisResult[])replies[i]!;
            if (reply[0].IsNull || (string?)reply[0] is not { Length: > 0 } incidentId)
            {
                continue;
            }

            // Only the calls the script filed under the incident are held by it (its end releases exactly those).
            var filedHere = ((RedisResult[])reply[3]!).Select(r => (string)r!).ToHashSet(StringComparer.Ordinal);
            var scope = byScope[i].Scope;
            foreach (var drop in byScope[i].Drops.Where(d => filedHere.Contains(d.CallId)))
            {
                // A cell's incident names the call before its node's: the cell is where traffic will show first.
                if (scope.Kind == OutageScope.Cell || !incidentOfCall.ContainsKey(drop.CallId))
                {
                    incidentOfCall[drop.CallId] = incidentId;
                }
            }

            if ((long)reply[1] is 1 or 2)
            {
                IReadOnlyList<string> filed = [.. ((RedisResult[])reply[2]!).Select(r => (string)r!)];
                declared.Add((incidentId, filed));
                var (scopeId, startMs) = TryParseId(incidentId, out var parsedScope, out var parsedStart) ? (parsedScope, parsedStart) : throw new FormatException("Not an incident id.");
                await Task.WhenAll(
                    db.SortedSetAddAsync(_keys.Incidents(), incidentId, startMs),
                    db.SortedSetRemoveRangeByScoreAsync(_keys.Incidents(), double.NegativeInfinity, (now - _retention).ToUnixTimeMilliseconds()),
                    db.KeyExpireAsync(_keys.Incidents(), _retention),
                    db.SetAddAsync(_keys.OpenIncidents(), incidentId),
                    db.KeyExpireAsync(_keys.OpenIncidents(), LongestIncident)).ConfigureAwait(false);
                _openScopes = new HashSet<string>(_openScopes.Append(scopeId), StringComparer.Ordinal);
                if ((long)reply[1] == 2)
                {
                    telemetry.IncidentDeclared(scope.Kind);
                    LogDeclared(incidentId, scope.Kind, scope.Name, filed.Count);
                }
            }
        }

        return new OutageCount(incidentOfCall, declared);
    }

    /// <summary>
    /// The drops of each scope they name (cells and nodes, in the order first named; nameless ones left out), each call
    /// once. Built without LINQ's groupings: it runs for every drop, twice.
    /// </summary>
    private static List<(OutageScope Scope, List<CallDrop> Drops)> ByScope(IReadOnlyList<CallDrop> drops)
    {
        var byScope = new List<(OutageScope Scope, List<CallDrop> Drops)>(2 * drops.Count);
        var index = new Dictionary<OutageScope, int>(2 * drops.Count);
        var counted = new HashSet<(int Scope, string CallId)>(2 * drops.Count);
        foreach (var drop in drops)
        {
            Add(new OutageScope(OutageScope.Cell, drop.ServingCell), drop);
            Add(new OutageScope(OutageScope.Node, drop.SwitchingNode), drop);
        }

        return byScope;

        void Add(OutageScope scope, CallDrop drop)
        {
            if (scope.Name.Length == 0)
            {
                return;
            }

            if (!index.TryGetValue(scope, out var at))
            {
                at = index[scope] = byScope.Count;
                byScope.Add((scope, []));
            }

            if (counted.Add((at, drop.CallId)))
            {
                byScope[at].Drops.Add(drop);
            }
        }
    }

    /// <summary>
    /// Incidents declared now: the recoveries of every call filed under them are held through the door (queued, not
    /// yet sent; one created held already stays so, and a call whose recovery came from an earlier batch is held
    /// whatever report of it this batch carried). One that ended meanwhile releases them again (its end may have come
    /// before the holds). Only then is the incident no longer declared again (a retried batch does all this again until then).
    /// </summary>
    public async Task HoldDeclaredAsync(OutageCount count)
    {
        foreach (var (incidentId, filed) in count.Declared)
        {
            foreach (var lot in filed.Chunk(ReleaseLot))
            {
                await moves.ApplyAsync([.. lot.Select(callId => (RecoveryMove)new HoldMove(callId, incidentId))]).ConfigureAwait(false);
            }

            await ReleaseIfEndedAsync(incidentId, filed).ConfigureAwait(false);
            await redis.GetDatabase().EvaluateAsync(AnnounceIncident, [_keys.Incident(ScopeIdOf(incidentId))], [incidentId]).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Recoveries just created held by an incident (filed under it when their drop was counted): if it ended before
    /// they were created, its end could not release them, so they are released here.
    /// </summary>
    public async Task ReleaseIfEndedAsync(string incidentId, IReadOnlyList<string> callIds)
    {
        if (callIds.Count == 0 || !TryParseId(incidentId, out var scopeId, out _))
        {
            return;
        }

        if (await redis.GetDatabase().HashGetAsync(_keys.Incident(scopeId), "id").ConfigureAwait(false) != incidentId)
        {
            foreach (var lot in callIds.Chunk(ReleaseLot))
            {
                await ReleaseAsync([.. lot.Select(callId => new IncidentRelease(callId, incidentId))]).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Traffic seen in these scopes at these times: ends their open incidents begun before it, and releases what they
    /// held. Scopes with no open incident (as last refreshed) cost nothing, unless a cell was reported in service.
    /// </summary>
    public async Task EndOnTrafficAsync(IReadOnlyList<OutageTraffic> traffic)
    {
        var open = _openScopes;
        if (!_options.Enabled || (open.Count == 0 && !traffic.Any(t => t.Reported)))
        {
            // No outage anywhere (the usual case): traffic costs nothing.
            return;
        }

        // A cell reported in service is always looked up (it is rare, and this replica may not have heard of the
        // incident yet); other traffic only for scopes known to be in an outage.
        var candidates = traffic.Where(t => t.Scope.Name.Length > 0).Select(t => (t.Scope.Id, t.At, t.Evidence, t.Reported))
            .Where(t => t.Reported || open.Contains(t.Id)).GroupBy(t => t.Id).Select(g => g.MaxBy(t => t.At)).ToList();
        if (candidates.Count == 0)
        {
            return;
        }

        var db = redis.GetDatabase();
        // Written before the end and again after it: a replica that fails in between leaves the scope for the sweep to finish.
        await MarkReleasingAsync(db, candidates.Select(c => c.Id)).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var replies = await db.EvaluateEachAsync(EndIncident, [.. candidates.Select(t => new ScriptCall(
            [_keys.Incident(t.Id), _keys.Held(t.Id), _keys.Drops(t.Id), _keys.ArchivePrefix(t.Id), _keys.LastEnded(t.Id), _keys.Releasing(t.Id)],
            [now.ToUnixTimeMilliseconds(), t.At.ToUnixTimeMilliseconds(), t.Evidence, (long)_retention.TotalMilliseconds]))]).ConfigureAwait(false);
        await MarkReleasingAsync(db, candidates.Select(c => c.Id)).ConfigureAwait(false);
        var endedScopes = new List<string>();
        for (var i = 0; i < replies.Length; i++)
        {
            if (replies[i].IsNull || replies[i].Resp2Type != ResultType.Array)
            {
                continue;
            }

            var parts = (RedisResult[])replies[i]!;
            var id = (string)parts[0]!;
            endedScopes.Add(candidates[i].Id);
            await db.SetRemoveAsync(_keys.OpenIncidents(), id).ConfigureAwait(false);
            LogEnded(id, (long)parts[1]);
        }

        foreach (var scope in endedScopes)
        {
            await ReleaseScopeAsync(scope).ConfigureAwait(false);
        }

        if (endedScopes.Count > 0)
        {
            await RefreshAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Finishes releases that a replica began and did not finish (it failed, or Redis did): every replica's sweep calls this.</summary>
    public async Task FinishReleasesAsync()
    {
        if (!_options.Enabled)
        {
            return;
        }

        var db = redis.GetDatabase();
        foreach (var scope in (await db.SetMembersAsync(_keys.ScopesReleasing()).ConfigureAwait(false)).Select(v => v.ToString()))
        {
            // Off the list first, then back on if anything is left: an end that adds to it after our look also puts it back.
            await db.SetRemoveAsync(_keys.ScopesReleasing(), scope).ConfigureAwait(false);
            if (await db.KeyExistsAsync(_keys.Releasing(scope)).ConfigureAwait(false))
            {
                await MarkReleasingAsync(db, [scope]).ConfigureAwait(false);
                await ReleaseScopeAsync(scope).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Releases a scope's ended incidents' recoveries through the door, taking each lot off the releasing set once done.</summary>
    private async Task ReleaseScopeAsync(string scope)
    {
        var db = redis.GetDatabase();
        var key = _keys.Releasing(scope);
        while (true)
        {
            var lot = (await db.SetRandomMembersAsync(key, ReleaseLot).ConfigureAwait(false)).Select(v => v.ToString()).ToList();
            if (lot.Count == 0)
            {
                return;
            }

            await ReleaseAsync([.. lot.Select(m => m.Split('|', 2)).Where(p => p.Length == 2).Select(p => new IncidentRelease(p[1], p[0]))]).ConfigureAwait(false);
            await db.SetRemoveAsync(key, [.. lot.Select(m => (RedisValue)m)]).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Releases through the door, vulnerable customers' recoveries first: they are queued (their own queue, claimed
    /// first) before any other of the lot is, so the first claim after an outage takes them, whichever replica
    /// releases, or releases again (a repeated release of a queued recovery queues it again, idempotently).
    /// </summary>
    private async Task ReleaseAsync(IReadOnlyList<IncidentRelease> releases)
    {
        var read = await moves.ReadAsync([.. releases.Select(r => r.CallId)]).ConfigureAwait(false);
        var lot = releases.Select((release, i) => (Read: read[i], Move: (RecoveryMove)release)).ToList();
        await moves.ApplyAsync([.. lot.Where(r => r.Read?.Record.Vulnerable == true)]).ConfigureAwait(false);
        await moves.ApplyAsync([.. lot.Where(r => r.Read?.Record.Vulnerable != true)]).ConfigureAwait(false);
    }

    private Task MarkReleasingAsync(IDatabase db, IEnumerable<string> scopes) =>
        Task.WhenAll(db.SetAddAsync(_keys.ScopesReleasing(), [.. scopes.Select(s => (RedisValue)s)]), db.KeyExpireAsync(_keys.ScopesReleasing(), _retention));

    /// <summary>Reads which scopes have an open incident (and how many calls they filed), dropping incidents that expired unended.</summary>
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
        var current = await db.HashGetAllAsync(_keys.Incident(scopeId)).ConfigureAwait(false);
        var fields = current.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        if (fields.GetValueOrDefault("id") != incidentId)
        {
            var archived = await db.HashGetAllAsync(_keys.Archive(scopeId, startMs)).ConfigureAwait(false);
            fields = archived.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
            if (fields.GetValueOrDefault("id") != incidentId)
            {
                return null;
            }
        }

        long Number(string name) => long.TryParse(fields.GetValueOrDefault(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new OutageIncident(incidentId, fields.GetValueOrDefault("kind", string.Empty), fields.GetValueOrDefault("name", string.Empty), DateTimeOffset.FromUnixTimeMilliseconds(Number("start")),
            Number("count"), Number("held"), fields.GetValueOrDefault("state", string.Empty), fields.ContainsKey("end") ? DateTimeOffset.FromUnixTimeMilliseconds(Number("end")) : null, fields.GetValueOrDefault("endedBy", string.Empty));
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
    private partial void LogEnded(string incidentId, long held);
}
