using CallRecovery.Contracts.V1;
using CallRecovery.Decisions;
using CallRecovery.Ingest;
using CallRecovery.Observability;
using CallRecovery.Outcomes;
using CallRecovery.Store;
using Microsoft.Extensions.Options;

namespace CallRecovery.Dispatch;

/// <summary>
/// Puts accepted recoveries in their switch's queue, and ends recoveries that are no longer wanted: when
/// the two parties reach each other by themselves (a redial), when a party opts out or makes an emergency
/// call, or when the deadline passes undelivered.
/// An ended recovery's outcome is published before it leaves the queue, so a crash in between publishes again
/// rather than never.
/// </summary>
public sealed partial class RecoveryScheduler(
    DispatchStore store,
    OutcomePublisher outcomes,
    SwitchConnections connections,
    CallRecoveryTelemetry telemetry,
    IOptions<SwitchingOptions> options,
    TimeProvider time,
    ILogger<RecoveryScheduler> logger)
{
    private readonly SwitchingOptions _options = options.Value;

    /// <summary>Queues every accepted decision; replays queue nothing twice.</summary>
    public Task ScheduleAsync(IReadOnlyList<SettledDecision> decisions) =>
        store.ScheduleAsync([.. decisions
            .Where(d => d.Record.Reason == DecisionReason.Accepted && d.Pending.Plan is not null && d.Pending.Candidate is not null)
            .Select(d => new ScheduledRecovery(d.Record.CallId, d.Pending.Plan!.SwitchId, d.Pending.Plan.DueAt, d.Pending.Plan.Deadline, d.Pending.Candidate!.CallBack, d.Pending.Candidate.OtherParty))]);

    /// <summary>
    /// Remembers that two parties reached each other and cancels the recoveries between them that are not yet
    /// acknowledged. The connection is written before the recoveries are read, and the dispatch step reads it
    /// after marking a command sent: a redial and a callback never miss each other.
    /// </summary>
    public async Task CancelOnRedialAsync(IReadOnlyList<ConnectionReported> connected)
    {
        var now = time.GetUtcNow();
        await Task.WhenAll(connected.Select(async c =>
        {
            var recoveries = await store.RecordConnectionAsync(c.Caller, c.Callee, c.CallId, c.AnswerTime, now - _options.CallbackDeadline, _options.CallbackDeadline + TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            foreach (var callId in recoveries)
            {
                var change = await store.CancelForRedialAsync(callId, now, c.CallId, c.AnswerTime).ConfigureAwait(false);
                await FinishEndedAsync(change, Outcome.Cancelled).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>
    /// A party can no longer be called (opted out, or in an emergency call): cancels every recovery of theirs that
    /// is not yet acknowledged, as callback party or as the party to reconnect. Called after the fact is written.
    /// </summary>
    public async Task CancelForPartyAsync(string number, string detail)
    {
        var now = time.GetUtcNow();
        foreach (var callId in await store.CallsOfSinceAsync(number, now - _options.CallbackDeadline).ConfigureAwait(false))
        {
            var change = await store.CancelForPartyAsync(callId, now, number, detail).ConfigureAwait(false);
            await FinishEndedAsync(change, Outcome.Cancelled).ConfigureAwait(false);
        }
    }

    /// <summary>The dispatch step found a reason not to call: the recovery ends cancelled, nothing is sent.</summary>
    public async Task CancelAsync(string callId, string detail)
    {
        var change = await store.CancelAsync(callId, time.GetUtcNow(), detail).ConfigureAwait(false);
        await FinishEndedAsync(change, Outcome.Cancelled).ConfigureAwait(false);
    }

    /// <summary>Expires a command whose deadline passed (the sweep leased it to us).</summary>
    public async Task ExpireAsync(string switchId, string callId)
    {
        var change = await store.ExpireAsync(callId, time.GetUtcNow()).ConfigureAwait(false);
        if (change.Verdict == "kept" && change.Recovery is null)
        {
            // Acknowledged, completed or gone: nothing left to deliver.
            await store.SettleEntriesAsync(switchId, callId).ConfigureAwait(false);
            return;
        }

        await FinishEndedAsync(change, Outcome.Expired).ConfigureAwait(false);
    }

    private async Task FinishEndedAsync(RecoveryChange change, Outcome outcome)
    {
        if (change.Recovery is not { } recovery || change.Verdict is not ("ended" or "again"))
        {
            return;
        }

        using var span = RecoveryTracing.StartStep(outcome == Outcome.Expired ? "expire" : "cancel", recovery, System.Diagnostics.ActivityKind.Internal);
        span?.SetTag(RecoveryTracing.Outcome, outcome.ToString()).SetTag(RecoveryTracing.Detail, recovery.Detail);
        await outcomes.PublishOutcomeAsync(recovery, outcome).ConfigureAwait(false);
        await store.SettleEntriesAsync(recovery.SwitchId, recovery.CallId).ConfigureAwait(false);
        foreach (var holder in connections.Release(recovery.CallId))
        {
            holder.TrySend(new ServiceMessage { Cancel = new CancelCommand { RecoveryId = recovery.RecoveryId, Reason = recovery.Detail } });
        }

        if (change.Verdict == "ended")
        {
            telemetry.RecoveryEnded(outcome.ToString(), recovery.SwitchId);
            LogEnded(recovery.RecoveryId, outcome, recovery.Detail);
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Recovery {RecoveryId} {Outcome}: {Detail}")]
    private partial void LogEnded(string recoveryId, Outcome outcome, string detail);
}
