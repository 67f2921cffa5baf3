using CallRecovery.Subscribers;

namespace CallRecovery.Decisions;

/// <summary>
/// A subscriber's opt-out, as CRM sets it: written with its audit entry, then (when set) every recovery of theirs not
/// yet ended is cancelled, at the switch too. Written first and cancelled second, while the dispatch step checks
/// opt-outs before it sends: one of the two always sees the other.
/// </summary>
public sealed class OptOuts(SubscriberFacts subscribers, RecoveryDecider decider, TimeProvider time)
{
    public async Task SetAsync(string number, OptOutChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        await subscribers.SetOptOutAsync(number, change).ConfigureAwait(false);
        if (change.OptedOut)
        {
            await decider.CancelForPartiesAsync([number], "a party opted out since the decision", time.GetUtcNow()).ConfigureAwait(false);
        }
    }

    /// <summary>The change that set the current opt-out (null when not opted out) and the audit trail, newest first.</summary>
    public Task<(OptOutChange? Current, IReadOnlyList<OptOutChange> Trail)> GetAsync(string number) => subscribers.GetOptOutAsync(number);
}
