namespace CallRecovery.Delivery;

/// <summary>
/// Wakes this replica's dispatch loop when there may be something to send: a window place freed (an acknowledgement,
/// a rejection, a closed stream), a switch connected, or a recovery queued here or by another replica (then with its
/// due time, so the loop sleeps until exactly then). Every announced due time is remembered until it comes, not
/// only the earliest: a loop that woke for one batch's due time sleeps until the next batch's, rather than until the
/// poll. A due time wakes the loop only when it sleeps and planned to wake later; an awake loop reads it before it
/// sleeps (so a round that reports the next due time does not cost an empty round). The poll remains a safety net.
/// </summary>
public sealed class DispatchSignal(TimeProvider time) : IDisposable
{
    /// <summary>Due times remembered at most; past that (a storm of announcements) the poll covers the rest.</summary>
    public const int MostDueTimes = 100_000;

    // While the loop is awake it reads the due times again before it sleeps, so an announcement needs no wake-up.
    private const long Awake = long.MinValue;

    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly PriorityQueue<long, long> _due = new();
    private readonly Lock _lock = new();

    // When the sleeping loop plans to wake (unix ms; long.MaxValue: at the poll), or Awake.
    private long _plannedMs = Awake;

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
        bool sooner;
        lock (_lock)
        {
            // Only a loop asleep until later needs waking; an awake one (this due time may come from its own round)
            // sees the due time before it sleeps again.
            sooner = _plannedMs != Awake && ms < _plannedMs;
            if (_due.Count < MostDueTimes)
            {
                _due.Enqueue(ms, ms);
            }
        }

        if (sooner)
        {
            Wake();
        }
    }

    /// <summary>Waits for a wake-up, the earliest remembered due time, or at most <paramref name="poll"/>.</summary>
    public async Task WaitAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        long planned;
        lock (_lock)
        {
            // Due times that have come are forgotten: the dispatch about to run takes what is due.
            var dueNow = false;
            while (_due.TryPeek(out _, out var head) && head <= now)
            {
                _due.Dequeue();
                dueNow = true;
            }

            if (dueNow)
            {
                return;
            }

            var next = _due.TryPeek(out _, out var first) ? first : long.MaxValue;
            _plannedMs = planned = Math.Min(next, now + (long)poll.TotalMilliseconds);
        }

        var wait = TimeSpan.FromMilliseconds(Math.Max(0, planned - now));
        try
        {
            await _wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _plannedMs = Awake;
            }
        }
    }

    public void Dispose() => _wake.Dispose();
}
