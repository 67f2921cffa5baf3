using System.Collections.Concurrent;
using CallRecovery.Recoveries;

namespace CallRecovery.Tests.Fakes;

/// <summary>The effects port as a list: every transition the door handed over, in order.</summary>
public sealed class RecordingEffects : IRecoveryEffects
{
    private readonly ConcurrentQueue<RecoveryTransition> _carried = new();

    public IReadOnlyCollection<RecoveryTransition> Carried => _carried;

    public Task CarryOutAsync(IReadOnlyList<RecoveryTransition> transitions)
    {
        foreach (var transition in transitions)
        {
            _carried.Enqueue(transition);
        }

        return Task.CompletedTask;
    }
}
