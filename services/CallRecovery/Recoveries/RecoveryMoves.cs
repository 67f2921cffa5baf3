using CallRecovery.Hosting;
using CallRecovery.Policy;
using Microsoft.Extensions.Options;

namespace CallRecovery.Recoveries;

/// <summary>
/// The one door every move of a recovery goes through. It reads the recovery, lets the lifecycle decide
/// (<see cref="RecoveryLifecycle.Decide"/>: the table, its conditions and rewrites), writes the decision only if the
/// recovery did not change since it was read (else it decides again on what is there now), and hands every
/// transition to the effects port (<see cref="IRecoveryEffects"/>). Nothing else writes a recovery. A move may be
/// decided on the recovery as this replica last read or wrote it (<see cref="RecentRecoveries"/>): the version check
/// makes that as safe as a fresh read, and saves reading it again for each of the moves that follow one another.
/// </summary>
public sealed class RecoveryMoves(IRecoveryRecords records, IRecoveryEffects effects, IOptions<RecoveryPolicyOptions> policy, TimeProvider time, CrashPoints? crash = null, RecentRecoveries? recent = null)
{
    /// <summary>How often a move is decided again when other moves keep coming between its read and its write.</summary>
    private const int MostTries = 16;

    private readonly TimeSpan _clockTolerance = policy.Value.ClockTolerance;

    /// <summary>The recoveries as stored now (null where there is none).</summary>
    public async Task<IReadOnlyList<StoredRecovery?>> ReadAsync(IReadOnlyList<string> callIds)
    {
        if (callIds.Count == 0)
        {
            return [];
        }

        var read = await records.ReadAsync(callIds).ConfigureAwait(false);
        for (var i = 0; i < read.Count; i++)
        {
            recent?.Remember(callIds[i], read[i]);
        }

        return read;
    }

    /// <summary>
    /// The recoveries to decide moves on: as this replica last read or wrote them where it knows them, the others as
    /// stored now (null where there is none). Only for moves through this door, whose writes check the version.
    /// </summary>
    public async Task<IReadOnlyList<StoredRecovery?>> ReadForMovesAsync(IReadOnlyList<string> callIds)
    {
        if (recent is null)
        {
            return await ReadAsync(callIds).ConfigureAwait(false);
        }

        var read = new StoredRecovery?[callIds.Count];
        var unknown = new List<int>();
        for (var i = 0; i < callIds.Count; i++)
        {
            read[i] = recent.Get(callIds[i]);
            if (read[i] is null)
            {
                unknown.Add(i);
            }
        }

        if (unknown.Count > 0)
        {
            var fresh = await ReadAsync([.. unknown.Select(i => callIds[i])]).ConfigureAwait(false);
            for (var n = 0; n < unknown.Count; n++)
            {
                read[unknown[n]] = fresh[n];
            }
        }

        return read;
    }

    public async Task<StoredRecovery?> ReadAsync(string callId) => (await ReadAsync([callId]).ConfigureAwait(false))[0];

    public async Task<RecoveryTransition> ApplyAsync(RecoveryMove move) => (await ApplyAsync([move]).ConfigureAwait(false))[0];

    /// <summary>Makes the moves (each on its own recovery, side by side), then carries out their effects.</summary>
    public async Task<IReadOnlyList<RecoveryTransition>> ApplyAsync(IReadOnlyList<RecoveryMove> moves)
    {
        if (moves.Count == 0)
        {
            return [];
        }

        var read = await ReadForMovesAsync([.. moves.Select(m => m.CallId)]).ConfigureAwait(false);
        return await ApplyAsync([.. moves.Select((m, i) => (read[i], m))]).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes the moves on recoveries the caller read (and checked something against, such as a party's opt-out before
    /// a dispatch): each is decided on that read, and decided again only if the recovery changed since.
    /// </summary>
    public async Task<IReadOnlyList<RecoveryTransition>> ApplyAsync(IReadOnlyList<(StoredRecovery? Read, RecoveryMove Move)> moves)
    {
        var transitions = await Task.WhenAll(moves.Select(m => DecideAndWriteAsync(m.Read, m.Move))).ConfigureAwait(false);
        await effects.CarryOutAsync(transitions).ConfigureAwait(false);
        return transitions;
    }

    /// <summary>
    /// Creates recoveries (a call that has one already keeps it: the first accepted report wins) and schedules each
    /// as stored: queued, or held with its deadline, and filed. A replay finds the stored one and schedules that, never
    /// a plan made again.
    /// </summary>
    public async Task<IReadOnlyList<RecoveryTransition>> CreateAsync(IReadOnlyList<RecoveryRecord> recoveries)
    {
        var stored = await Task.WhenAll(recoveries.Select(records.CreateAsync)).ConfigureAwait(false);
        foreach (var (created, _) in stored)
        {
            recent?.Remember(created.Record.CallId, created);
        }

        // (The crash tests: created, not yet queued at their switches.)
        if (stored.Length > 0)
        {
            crash?.Reached(CrashPoints.Settled);
        }

        return await ApplyAsync([.. stored.Select(s => ((StoredRecovery?)s.Stored, (RecoveryMove)new ScheduleMove(s.Stored.Record.CallId, s.Created)))]).ConfigureAwait(false);
    }

    private async Task<RecoveryTransition> DecideAndWriteAsync(StoredRecovery? stored, RecoveryMove move)
    {
        for (var tries = 0; tries < MostTries; tries++)
        {
            var decision = RecoveryLifecycle.Decide(stored, move, time.GetUtcNow(), _clockTolerance);
            if (stored is { Recent: true } && decision.Writes.Count == 0)
            {
                // Nothing to write (no version to check it against) is decided only on the recovery as stored now.
                stored = (await ReadAsync([move.CallId]).ConfigureAwait(false))[0];
                continue;
            }

            if (stored is null || decision.Writes.Count == 0)
            {
                return new RecoveryTransition(decision.Verdict, decision.From, decision.Trigger, stored?.Record, move);
            }

            RecordWrite write;
            try
            {
                write = await records.WriteAsync(move.CallId, stored.Version, decision.Writes).ConfigureAwait(false);
            }
            catch
            {
                // Written or not, nobody knows: the next move reads it.
                recent?.Forget(move.CallId);
                throw;
            }

            if (write.Written)
            {
                var written = stored.With(decision.Writes);
                recent?.Remember(move.CallId, written);
                return new RecoveryTransition(decision.Verdict, decision.From, decision.Trigger, written.Record, move);
            }

            // Another move came first. A dispatch is not decided again: it was sent on what the caller read and checked
            // (a party's opt-out, quiet hours); it waits, and the next claim reads and checks the recovery as it is now.
            stored = write.Current;
            recent?.Remember(move.CallId, stored);
            if (move is DispatchMove { Connection.Length: > 0 })
            {
                return new RecoveryTransition(RecoveryVerdict.Kept, stored?.Record.State, move.Trigger, stored?.Record, move);
            }

            // Anything else: decided again on the recovery as it is now.
        }

        throw new InvalidOperationException($"Recovery of call {move.CallId} kept changing while a {move.Trigger} was decided.");
    }
}
