using CallRecovery.Policy;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Recoveries;

/// <summary>
/// Where recoveries are filed so that what happens to their parties finds them: under the pair (a redial between
/// them) and under each party (an opt-out, an emergency call, a re-attach). Every recovery until a minute past its
/// deadline, not a trimmed list: a subscriber who dropped many calls since is still found.
/// </summary>
public sealed class RecoveryIndex(IConnectionMultiplexer redis, IOptions<RedisOptions> options, IOptions<SwitchingOptions> switching)
{
    private static readonly RedisScript FilePair = LuaResources.Load("file_pair.lua");
    private static readonly RedisScript FileParty = LuaResources.Load("file_party.lua");

    private static readonly TimeSpan Margin = TimeSpan.FromMinutes(1);

    private readonly RecoveryKeys _keys = RecoveryKeys.For(options.Value);

    /// <summary>
    /// Until when a new recovery is filed (<see cref="RecoveryRecord.FiledUntil"/>): its deadline and one outcome timeout
    /// after it, so a callback the switch accepts by its deadline stays findable while it is supervised without being
    /// filed again; only supervision that runs longer (a report late in it, the parties bridged) files it again.
    /// </summary>
    public DateTimeOffset FiledUntilFor(DateTimeOffset deadline) => deadline + switching.Value.OutcomeTimeout;

    /// <summary>Does supervision until <paramref name="supervisedUntil"/> outlast what the recovery was filed for?</summary>
    public static bool OutlastsFiling(RecoveryRecord recovery, DateTimeOffset supervisedUntil)
    {
        ArgumentNullException.ThrowIfNull(recovery);
        return supervisedUntil > (recovery.FiledUntil ?? recovery.Deadline);
    }

    /// <summary>Files recoveries under their pair and both parties (until <see cref="RecoveryRecord.FiledUntil"/>); one run per script for all of them.</summary>
    public Task FileAsync(IReadOnlyList<RecoveryRecord> recoveries, DateTimeOffset now) =>
        KeepUntilAsync([.. recoveries.Select(r => (r, r.FiledUntil ?? r.Deadline))], now);

    /// <summary>
    /// Keeps recoveries filed until a minute past <c>Until</c> (at least past their deadline): one the switch accepted
    /// stays open as long as it is supervised, and an opt-out or emergency call must still find it to cancel.
    /// </summary>
    public Task KeepUntilAsync(IReadOnlyList<(RecoveryRecord Recovery, DateTimeOffset Until)> recoveries, DateTimeOffset now)
    {
        if (recoveries.Count == 0)
        {
            return Task.CompletedTask;
        }

        var db = redis.GetDatabase();
        var pairs = db.EvaluateEachAsync(FilePair, [.. recoveries.Select(k => new ScriptCall([_keys.PairRecoveries(k.Recovery.CallBack, k.Recovery.OtherParty)], [k.Recovery.CallId, Until(k.Recovery, k.Until), now.ToUnixTimeMilliseconds()]))]);
        var parties = db.EvaluateEachAsync(FileParty, [.. recoveries.SelectMany(k => new[] { k.Recovery.CallBack, k.Recovery.OtherParty }.Distinct(StringComparer.Ordinal)
            .Select(number => new ScriptCall([_keys.PartyRecoveries(number)], [k.Recovery.CallId, Until(k.Recovery, k.Until), now.ToUnixTimeMilliseconds()])))]);
        return Task.WhenAll(pairs, parties);
    }

    /// <summary>The recoveries between two parties (either direction) that may still be open.</summary>
    public async Task<IReadOnlyList<string>> OfPairAsync(string a, string b) =>
        [.. (await redis.GetDatabase().SetMembersAsync(_keys.PairRecoveries(a, b)).ConfigureAwait(false)).Select(v => v.ToString())];

    /// <summary>A subscriber's recoveries (as either party) that may still be open at <paramref name="now"/>.</summary>
    public async Task<IReadOnlyList<string>> OfPartyAsync(string number, DateTimeOffset now) =>
        [.. (await redis.GetDatabase().SortedSetRangeByScoreAsync(_keys.PartyRecoveries(number), now.ToUnixTimeMilliseconds(), double.PositiveInfinity).ConfigureAwait(false)).Select(v => v.ToString())];

    private static long Until(RecoveryRecord recovery, DateTimeOffset until) => ((until > recovery.Deadline ? until : recovery.Deadline) + Margin).ToUnixTimeMilliseconds();
}
