using CallRecovery.Recoveries;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>The lifecycle's effects port doing nothing: for tests of what the door writes, not of what it sets off.</summary>
public sealed class NoEffects : IRecoveryEffects
{
    public Task CarryOutAsync(IReadOnlyList<RecoveryTransition> transitions) => Task.CompletedTask;
}
