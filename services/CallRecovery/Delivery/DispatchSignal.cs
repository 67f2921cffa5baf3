namespace CallRecovery.Delivery;

/// <summary>
/// Wakes this replica's dispatch loop when there may be something to send: a window place freed (an acknowledgement,
/// a rejection, a closed stream), a switch connected, or a recovery queued here or by another replica (then with its
/// due time, so the loop sleeps until exactly then). The loop's poll interval remains only as a safety net.
/// </summary>
public sealed class DispatchSignal(TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long _nextDueMs = long.MaxValue;

    /// <summary>Something may be sendable now.</summary>
    public void Wake()
    {
        // At most one pending wake-up: a burst of acknowledgements wakes the loop once.
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another thread woke it first.
            }
        }
    }

    /// <summary>A command becomes due at <paramref name="dueAt"/>: the loop wakes then (at once if it is due already).</summary>
    public void DueAt(DateTimeOffset dueAt)
    {
        var ms = dueAt.ToUnixTimeMilliseconds();
        var current = Interlocked.Read(ref _nextDueMs);
        while (ms < current)
        {
            var seen = Interlocked.CompareExchange(ref _nextDueMs, ms, current);
            if (seen == current)
            {
                break;
            }

            current = seen;
        }

        if (ms <= time.GetUtcNow().ToUnixTimeMilliseconds())
        {
            Wake();
        }
        else if (ms < current)
        {
            // Earlier than the loop planned to wake: let it plan again.
            Wake();
        }
    }

    /// <summary>Waits for a wake-up, the earliest known due time, or at most <paramref name="poll"/>.</summary>
    public async Task WaitAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var next = Interlocked.Read(ref _nextDueMs);
        if (next <= now)
        {
            // Due now: forget it (the dispatch about to run takes it) and go.
            Interlocked.CompareExchange(ref _nextDueMs, long.MaxValue, next);
            return;
        }

        var wait = next == long.MaxValue ? poll : TimeSpan.FromMilliseconds(Math.Min(next - now, poll.TotalMilliseconds));
        await _wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _wake.Dispose();
}
