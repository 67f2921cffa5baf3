using CallRecovery.Amends;
using CallRecovery.Decisions;
using CallRecovery.Recoveries;
using CallRecovery.Subscribers;

namespace CallRecovery.Lookup;

/// <summary>A call as recorded: each report's decision, the call's recovery if it has one, and the amends made for it.</summary>
public sealed record CallStory(string CallId, IReadOnlyList<DecisionRecord> Decisions, RecoveryRecord? Recovery, Contracts.V1.Compensation? Compensation = null)
{
    public bool IsKnown => Decisions.Count > 0 || Recovery is not null;
}

/// <summary>Tells calls' stories for engineers and CRM: by call id, or a subscriber's latest calls (the number matched, never echoed).</summary>
public sealed class CallStories(DecisionStore decisions, RecoveryMoves recoveries, RecoveryIndex index, SubscriberFacts subscribers, Compensations compensations)
{
    /// <summary>The callbacks queued for a customer now (not ended, the customer being the one called back), soonest due first; and until when they asked for none.</summary>
    public async Task<(IReadOnlyList<RecoveryRecord> Open, DateTimeOffset? NotNowUntil)> OpenOfCustomerAsync(string number, DateTimeOffset now)
    {
        var callIds = await index.OfPartyAsync(number, now).ConfigureAwait(false);
        var stored = await recoveries.ReadAsync(callIds).ConfigureAwait(false);
        var open = stored.Select(s => s?.Record).OfType<RecoveryRecord>()
            .Where(r => r.CallBack == number && !RecoveryLifecycle.IsFinal(r.State)).OrderBy(r => r.DueAt).ToList();
        return (open, await subscribers.NotNowUntilAsync(number).ConfigureAwait(false));
    }

    public async Task<CallStory> OfCallAsync(string callId)
    {
        var recorded = decisions.DecisionsOfAsync(callId);
        var recovery = recoveries.ReadAsync(callId);
        await Task.WhenAll(recorded, recovery).ConfigureAwait(false);
        var record = recovery.Result?.Record;
        var compensation = record is not null && RecoveryLifecycle.IsFinal(record.State) ? await compensations.ReadAsync(record).ConfigureAwait(false) : null;
        return new CallStory(callId, recorded.Result, record, compensation);
    }

    /// <summary>A subscriber's latest dropped calls (at most <paramref name="most"/>), newest first.</summary>
    public async Task<IReadOnlyList<CallStory>> OfSubscriberAsync(string number, int most)
    {
        var calls = await subscribers.CallsOfAsync(number, most).ConfigureAwait(false);
        return [.. (await Task.WhenAll(calls.Select(OfCallAsync)).ConfigureAwait(false)).Where(s => s.IsKnown)];
    }
}
