namespace CallRecovery.Recoveries;

/// <summary>
/// The port a move's effects leave by (<see cref="RecoveryEffects"/>: send or cancel the command at the switch,
/// publish, count, queue, file): the lifecycle says what, the delivery stage implements how, once. The door hands
/// every transition here, so no path can forget part of the bookkeeping.
/// </summary>
public interface IRecoveryEffects
{
    /// <summary>Carries out what the transitions emit (a transition that emits nothing is skipped).</summary>
    Task CarryOutAsync(IReadOnlyList<RecoveryTransition> transitions);
}

/// <summary>
/// What a move did: its verdict, the state before, the trigger it applied (a dispatch past the deadline becomes an
/// expiry), the recovery as it now stands (null when unknown), and the move asked. <see cref="Effects"/> is what
/// the service must do about it, from the lifecycle table.
/// </summary>
public sealed record RecoveryTransition(RecoveryVerdict Verdict, RecoveryState? From, RecoveryTrigger Trigger, RecoveryRecord? Recovery, RecoveryMove Move)
{
    public RecoveryEffects Effects => Verdict switch
    {
        RecoveryVerdict.Applied or RecoveryVerdict.Unchanged when From is { } from => RecoveryLifecycle.Rule(from, Trigger).Effects,
        RecoveryVerdict.Superseded => RecoveryEffects.CancelAtSwitch | RecoveryEffects.ReleaseWindow,
        _ => RecoveryEffects.None,
    };

    /// <summary>The state it now has (the state before when nothing moved).</summary>
    public RecoveryState? To => Recovery?.State ?? From;
}
