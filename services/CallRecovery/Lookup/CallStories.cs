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
public sealed class CallStories(DecisionStore decisions, RecoveryMoves recoveries, SubscriberFacts subscribers, Compensations compensations)
{
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
