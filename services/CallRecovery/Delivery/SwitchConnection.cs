using System.Collections.Concurrent;
using System.Threading.Channels;
using CallRecovery.Contracts.V1;

namespace CallRecovery.Delivery;

/// <summary>
/// One live switch stream on this replica: its window of unacknowledged commands and the outbox that its
/// single writer task drains (a gRPC response stream takes one writer at a time).
/// </summary>
public sealed class SwitchConnection : IDisposable
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _unacknowledged = new(StringComparer.Ordinal);
    private readonly Channel<ServiceMessage> _outbox;
    private readonly int _capacity;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _closing = new();
    private long _stuckSinceTicks = long.MinValue;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _rejected = new(StringComparer.Ordinal);

    // Commands with a window place whose command is not written yet, and cancels for them that wait until it is:
    // a cancel never goes out before the command it withdraws.
    private readonly Dictionary<string, List<ServiceMessage>?> _unwritten = new(StringComparer.Ordinal);

    // Which delivery (attempt) of a call each window place holds, once its command is handed over.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, uint> _attemptOf = new(StringComparer.Ordinal);
    private readonly Lock _writing = new();

    // Paced commands not written within the tolerance of their slot: they keep their places and wait for new slots.
    private readonly ConcurrentQueue<(string CallId, ServiceMessage Command)> _missedSlots = new();

    public SwitchConnection(string switchId, string instanceId, int window, int admissionRate = 0, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        SwitchId = switchId;
        InstanceId = instanceId;
        Window = window;
        AdmissionRate = admissionRate;
        // Room for a full window of commands plus report confirmations and cancels; a switch that stops reading fills it.
        _capacity = window + 1024;
        _outbox = Channel.CreateBounded<ServiceMessage>(new BoundedChannelOptions(_capacity) { SingleReader = true });
    }

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public string SwitchId { get; }

    public string InstanceId { get; }

    public int Window { get; }

    /// <summary>New commands per second the switch takes (all its instances together), as its Hello or configuration said; 0: no limit.</summary>
    public int AdmissionRate { get; }

    public int Free => Window - _unacknowledged.Count;

    /// <summary>Since when this connection is stuck (missed an acknowledgement timeout, or stopped reading); null while healthy.</summary>
    public DateTimeOffset? StuckSince => Interlocked.Read(ref _stuckSinceTicks) is var ticks && ticks != long.MinValue ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>Cancelled when the service closes this connection (stuck too long).</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>The switch did not acknowledge in time, or stopped reading: no new commands until it answers again.</summary>
    public void MarkStuck(DateTimeOffset now) => Interlocked.CompareExchange(ref _stuckSinceTicks, now.UtcTicks, long.MinValue);

    /// <summary>The switch answered (an acknowledgement or a report): it is reading and acting again.</summary>
    public void Answered() => Interlocked.Exchange(ref _stuckSinceTicks, long.MinValue);

    public void Close() => _closing.Cancel();

    /// <summary>The switch rejected this command here: its next attempt goes to another instance when there is one.</summary>
    public void Rejected(string callId, DateTimeOffset now)
    {
        _rejected[callId] = now;
        foreach (var (old, at) in _rejected)
        {
            if (now - at > TimeSpan.FromMinutes(10))
            {
                _rejected.TryRemove(old, out _);
            }
        }
    }

    public bool HasRejected(string callId) => _rejected.ContainsKey(callId);

    public ChannelReader<ServiceMessage> Outbox => _outbox.Reader;

    public IReadOnlyCollection<string> Unacknowledged => [.. _unacknowledged.Keys];

    public bool Holds(string callId) => _unacknowledged.ContainsKey(callId);

    /// <summary>Takes a window place for a command; false when the window is full or the outbox has no room for it.</summary>
    public bool TryReserve(string callId, DateTimeOffset now)
    {
        if (_unacknowledged.Count >= Window || _outbox.Reader.Count >= _capacity - 1)
        {
            return false;
        }

        lock (_writing)
        {
            _unwritten[callId] = null;
        }

        // A delivery not numbered yet: an answer for an earlier one does not free this place.
        _attemptOf[callId] = uint.MaxValue;
        _unacknowledged[callId] = now;
        return true;
    }

    /// <summary>
    /// Writes a command whose window place is reserved, at <paramref name="sendAt"/> (its slot of the switch's pace) or
    /// at once; then any cancel that waited for it. A paced command that cannot be written within
    /// <see cref="Pace.LateWrite"/> of its slot is not written then (it would crowd the slots after it at the switch):
    /// it keeps its place and is listed in <see cref="TakeMissedSlots"/>, for the dispatch loop to give it a new slot.
    /// </summary>
    public CommandWrite TrySendCommand(string callId, ServiceMessage command, DateTimeOffset? sendAt = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Command is { } callback)
        {
            _attemptOf[callId] = callback.Attempt;
        }

        if (sendAt is { } at && at - _time.GetUtcNow() is { } wait && wait > TimeSpan.FromMilliseconds(1))
        {
            _ = WriteLaterAsync(callId, command, at, wait);
            return CommandWrite.Written;
        }

        if (sendAt is { } slot && Missed(slot))
        {
            MissSlot(callId, command);
            return CommandWrite.MissedSlot;
        }

        lock (_writing)
        {
            var sent = TrySend(command);
            Written(callId);
            return sent ? CommandWrite.Written : CommandWrite.Refused;
        }
    }

    /// <summary>The commands that missed their slots since the last call and still hold their places (a cancel or the end of the stream gave others up).</summary>
    public IReadOnlyList<(string CallId, ServiceMessage Command)> TakeMissedSlots()
    {
        var missed = new List<(string, ServiceMessage)>();
        while (_missedSlots.TryDequeue(out var command))
        {
            lock (_writing)
            {
                if (_unwritten.ContainsKey(command.CallId))
                {
                    missed.Add(command);
                }
            }
        }

        return missed;
    }

    private async Task WriteLaterAsync(string callId, ServiceMessage command, DateTimeOffset slot, TimeSpan wait)
    {
        try
        {
            await Task.Delay(wait, _time, _closing.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Closed meanwhile: the command is still unacknowledged and goes round again.
        }

        lock (_writing)
        {
            // A place given up meanwhile (the stream ended, the command was superseded) is not written.
            if (_unwritten.ContainsKey(callId) && Missed(slot) && !_closing.IsCancellationRequested)
            {
                // Woken too late (a busy machine): it waits for a new slot, cancels for it still behind it.
                MissSlot(callId, command);
                return;
            }

            if (_unwritten.ContainsKey(callId))
            {
                TrySend(command);
            }

            Written(callId);
        }
    }

    /// <summary>
    /// Writes a cancel for <paramref name="callId"/>: at once, or, while this connection holds a window place for the
    /// call whose command is not written yet, right after that command (or when the place is given up).
    /// </summary>
    public void SendCancel(string callId, ServiceMessage cancel)
    {
        lock (_writing)
        {
            if (_unwritten.TryGetValue(callId, out var waiting))
            {
                (_unwritten[callId] = waiting ?? []).Add(cancel);
                return;
            }

            TrySend(cancel);
        }
    }

    // The command for the call is written, or will not be: cancels that waited for it go now. Under _writing.
    private void Written(string callId)
    {
        if (_unwritten.Remove(callId, out var waiting) && waiting is not null)
        {
            foreach (var cancel in waiting)
            {
                TrySend(cancel);
            }
        }
    }

    /// <summary>Raised when a window place frees, or a command missed its slot (the dispatch loop wakes on it).</summary>
    public event Action? RoomFreed;

    /// <summary>Too late to write at <paramref name="slot"/> without crowding the slots after it at the switch.</summary>
    private bool Missed(DateTimeOffset slot) => _time.GetUtcNow() - slot > Pace.LateWrite;

    /// <summary>Keeps the place and hands the command to the next dispatch round for a new slot (woken now).</summary>
    private void MissSlot(string callId, ServiceMessage command)
    {
        _missedSlots.Enqueue((callId, command));
        RoomFreed?.Invoke();
    }

    /// <summary>
    /// The switch answered for one delivery of a call: its place goes, unless the place is another delivery's now (a
    /// newer attempt, reserved on this connection after the one answered timed out, perhaps not written yet).
    /// </summary>
    public bool Answered(string callId, uint attempt) =>
        (!_attemptOf.TryGetValue(callId, out var held) || held == attempt) && Release(callId);

    public bool Release(string callId)
    {
        lock (_writing)
        {
            Written(callId);
        }

        _attemptOf.TryRemove(callId, out _);

        if (!_unacknowledged.TryRemove(callId, out _))
        {
            return false;
        }

        RoomFreed?.Invoke();
        return true;
    }

    /// <summary>Forgets commands unacknowledged for longer than the timeout (they go to another attempt); how many.</summary>
    public int ReleaseSentBefore(DateTimeOffset cutoff)
    {
        var released = 0;
        foreach (var (callId, sentAt) in _unacknowledged)
        {
            if (sentAt < cutoff && _unacknowledged.TryRemove(callId, out _))
            {
                _attemptOf.TryRemove(callId, out _);
                lock (_writing)
                {
                    Written(callId);
                }

                released++;
            }
        }

        if (released > 0)
        {
            RoomFreed?.Invoke();
        }

        return released;
    }

    /// <summary>Queues a message for the stream; false (and the connection stuck) when its outbox is full: the switch stopped reading.</summary>
    public bool TrySend(ServiceMessage message)
    {
        if (_outbox.Writer.TryWrite(message))
        {
            return true;
        }

        MarkStuck(_time.GetUtcNow());
        return false;
    }

    public void Complete() => _outbox.Writer.TryComplete();

    public void Dispose() => _closing.Dispose();
}

/// <summary>What became of a command handed to a connection.</summary>
public enum CommandWrite
{
    /// <summary>Written to the stream (or to be written at its slot).</summary>
    Written,
    /// <summary>Its slot passed before it could be written: not written yet; it keeps its place and waits for a new slot.</summary>
    MissedSlot,
    /// <summary>The stream stopped reading (its outbox is full): not written; it goes round when its acknowledgement times out.</summary>
    Refused,
}
