using Grpc.Core;

namespace CallRecovery.SwitchApi;

/// <summary>
/// One switch stream's reports in hand: each recovery's reports run one after another, in the order the switch sent
/// them, while reports of different recoveries run side by side (their Redis work pipelines on the shared
/// connection). At most <c>capacity</c> are in hand; the stream's reader waits for room, so a fast switch is slowed
/// by HTTP/2 flow control rather than by a queue that grows. A report that must end the stream (an
/// <see cref="RpcException"/>) is kept as <see cref="Failure"/> and cancels the session.
/// </summary>
internal sealed class ReportLanes(int capacity, CancellationTokenSource session) : IDisposable
{
    private readonly SemaphoreSlim _room = new(capacity, capacity);
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private RpcException? _failure;

    /// <summary>The first report that ended the stream, if one did.</summary>
    public RpcException? Failure => Volatile.Read(ref _failure);

    /// <summary>
    /// Starts <paramref name="handle"/> after the reports of the same recovery already in hand; waits while the lanes
    /// are full. Called by the stream's one reader only.
    /// </summary>
    public async Task EnqueueAsync(string recoveryId, Func<Task> handle)
    {
        await _room.WaitAsync(session.Token).ConfigureAwait(false);
        Lane lane;
        Task before;
        lock (_lock)
        {
            if (!_lanes.TryGetValue(recoveryId, out lane!))
            {
                _lanes[recoveryId] = lane = new Lane();
            }

            lane.Pending++;
            before = lane.Tail;
        }

        var tail = RunAsync(before, handle, recoveryId, lane);
        lock (_lock)
        {
            lane.Tail = tail;
        }
    }

    /// <summary>Waits until every report in hand is done.</summary>
    public async Task DrainAsync()
    {
        Task[] pending;
        lock (_lock)
        {
            pending = [.. _lanes.Values.Select(l => l.Tail)];
        }

        // Each lane's tail waits for the reports before it; a report's own failure is already kept or handled.
        await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task RunAsync(Task before, Func<Task> handle, string recoveryId, Lane lane)
    {
        try
        {
            await before.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (Failure is null)
            {
                await handle().ConfigureAwait(false);
            }
        }
        catch (RpcException e)
        {
            if (Interlocked.CompareExchange(ref _failure, e, null) is null)
            {
                await session.CancelAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested)
        {
            // The stream is ending; an unconfirmed report is resent by the switch.
        }
        finally
        {
            lock (_lock)
            {
                if (--lane.Pending == 0)
                {
                    _lanes.Remove(recoveryId);
                }
            }

            _room.Release();
        }
    }

    public void Dispose() => _room.Dispose();

    /// <summary>One recovery's reports in hand: how many, and the last one (the next waits for it).</summary>
    private sealed class Lane
    {
        public int Pending { get; set; }

        public Task Tail { get; set; } = Task.CompletedTask;
    }
}
