using System.Collections.Concurrent;

namespace CallRecovery.Probes;

/// <summary>
/// When each background loop last made progress. A loop beats on every turn, idle or busy, retrying or not;
/// a loop that has not beaten within <see cref="LivenessOptions.StallTimeout"/> is wedged, and liveness says so,
/// so Kubernetes restarts the pod (and nothing else does).
/// </summary>
public sealed class LoopHeartbeats(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, long> _beats = new(StringComparer.Ordinal);

    public void Beat(string loop) => _beats[loop] = time.GetTimestamp();

    /// <summary>Stops watching a loop (it ended with the host).</summary>
    public void Forget(string loop) => _beats.TryRemove(loop, out _);

    public IReadOnlyList<(string Loop, TimeSpan Silent)> StalledLongerThan(TimeSpan limit)
    {
        var now = time.GetTimestamp();
        return [.. _beats.Select(b => (b.Key, time.GetElapsedTime(b.Value, now))).Where(b => b.Item2 > limit).OrderBy(b => b.Key, StringComparer.Ordinal)];
    }
}
