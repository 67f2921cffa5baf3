using CallRecovery.Policy;
using CallRecovery.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Recoveries;

/// <summary>
/// Where recoveries are filed so that what happens to their parties finds them: under each party (an opt-out, an
/// emergency call, a re-attach, a redial between the two: read under one of them, the door cancels only recoveries
/// between both). Every recovery until a minute past its deadline, not a trimmed list: a subscriber who dropped many
/// calls since is still found. (Recoveries were also filed under their pair until 2026-12; the pair's set is no longer
/// written or read, and expires.)
/// </summary>
public sealed class RecoveryIndex(IConnectionMultiplexer redis, IOptions<RedisOptions> options, IOptions<SwitchingOptions> switching)
{
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

    /// <summary>Files recoveries under both parties (until <see cref="RecoveryRecord.FiledUntil"/>); one run per script for all of them.</summary>
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

        return redis.GetDatabase().EvaluateEachAsync(FileParty, [.. recoveries.SelectMany(k => new[] { k.Recovery.CallBack, k.Recovery.OtherParty }.Distinct(StringComparer.Ordinal)
            .Select(number => new ScriptCall([_keys.PartyRecoveries(number)], [k.Recovery.CallId, Until(k.Recovery, k.Until), now.ToUnixTimeMilliseconds()])))]);
    }

    /// <summary>A subscriber's recoveries (as either party) that may still be open at <paramref name="now"/>.</summary>
    public async Task<IReadOnlyList<string>> OfPartyAsync(string number, DateTimeOffset now) =>
        [.. (await redis.GetDatabase().SortedSetRangeByScoreAsync(_keys.PartyRecoveries(number), now.ToUnixTimeMilliseconds(), double.PositiveInfinity).ConfigureAwait(false)).Select(v => v.ToString())];

    private static long Until(RecoveryRecord recovery, DateTimeOffset until) => ((until > recovery.Deadline ? until : recovery.Deadline) + Margin).ToUnixTimeMilliseconds();
}
