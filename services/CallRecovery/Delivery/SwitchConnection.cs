using System.Collections.Concurrent;
using System.Threading.Channels;
using CallRecovery.Contracts.V1;

namespace CallRecovery.Delivery;

/// <summary>
/// One live switch stream on this replica: its window of unacknowledged commands and the outbox that its
/// single writer task drains (a gRPC response stream takes one writer at a time).
/// </summary>
public sealed class SwitchConnection
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _unacknowledged = new(StringComparer.Ordinal);
    private readonly Channel<ServiceMessage> _outbox;

    public SwitchConnection(string switchId, string instanceId, int window)
    {
        SwitchId = switchId;
        InstanceId = instanceId;
        Window = window;
        // Room for a full window of commands plus report confirmations; a switch that stops reading fills it.
        _outbox = Channel.CreateBounded<ServiceMessage>(new BoundedChannelOptions(window + 1024) { SingleReader = true });
    }

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public string SwitchId { get; }

    public string InstanceId { get; }

    public int Window { get; }

    public int Free => Window - _unacknowledged.Count;

    public ChannelReader<ServiceMessage> Outbox => _outbox.Reader;

    public IReadOnlyCollection<string> Unacknowledged => [.. _unacknowledged.Keys];

    public bool Holds(string callId) => _unacknowledged.ContainsKey(callId);

    /// <summary>Takes a window place for a command; false when the window is full.</summary>
    public bool TryReserve(string callId, DateTimeOffset now)
    {
        if (_unacknowledged.Count >= Window)
        {
            return false;
        }

        _unacknowledged[callId] = now;
        return true;
    }

    public bool Release(string callId) => _unacknowledged.TryRemove(callId, out _);

    /// <summary>Forgets commands unacknowledged for longer than the timeout: they have been handed to another attempt.</summary>
    public void ReleaseSentBefore(DateTimeOffset cutoff)
    {
        foreach (var (callId, sentAt) in _unacknowledged)
        {
            if (sentAt < cutoff)
            {
                _unacknowledged.TryRemove(callId, out _);
            }
        }
    }

    public bool TrySend(ServiceMessage message) => _outbox.Writer.TryWrite(message);

    public void Complete() => _outbox.Writer.TryComplete();
}
