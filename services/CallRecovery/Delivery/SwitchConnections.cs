using System.Diagnostics.Metrics;
using CallRecovery.Observability;

namespace CallRecovery.Delivery;

/// <summary>
/// The switch streams connected to this replica. Only this replica needs it: the commands themselves live in
/// Redis, and any replica with a live stream of a switch delivers that switch's commands.
/// </summary>
public sealed class SwitchConnections
{
    private readonly DispatchSignal _signal;

    public SwitchConnections(CallRecoveryTelemetry telemetry, DispatchSignal signal)
    {
        _signal = signal;
        telemetry.Meter.CreateObservableGauge("callrecovery.switch.connections", () => All().GroupBy(c => c.SwitchId).Select(g => new Measurement<int>(g.Count(),
            new KeyValuePair<string, object?>("callrecovery.switch.id", g.Key))), "{connection}", "Switch streams connected to this replica.");
        telemetry.Meter.CreateObservableGauge("callrecovery.switch.unacknowledged", () => All().GroupBy(c => c.SwitchId).Select(g => new Measurement<int>(g.Sum(c => c.Window - c.Free),
            new KeyValuePair<string, object?>("callrecovery.switch.id", g.Key))), "{command}", "Commands sent on this replica's switch streams and not yet acknowledged.");
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<SwitchConnection>> _bySwitch = new(StringComparer.Ordinal);

    public void Add(SwitchConnection connection)
    {
        lock (_lock)
        {
            if (!_bySwitch.TryGetValue(connection.SwitchId, out var list))
            {
                _bySwitch[connection.SwitchId] = list = [];
            }

            list.Add(connection);
        }

        // Its window frees as it acknowledges; each free place may let a due command go.
        connection.RoomFreed += _signal.Wake;
        _signal.Wake();
    }

    public void Remove(SwitchConnection connection)
    {
        connection.RoomFreed -= _signal.Wake;
        lock (_lock)
        {
            if (_bySwitch.TryGetValue(connection.SwitchId, out var list) && list.Remove(connection) && list.Count == 0)
            {
                _bySwitch.Remove(connection.SwitchId);
            }
        }
    }

    public IReadOnlyList<SwitchConnection> All()
    {
        lock (_lock)
        {
            return [.. _bySwitch.Values.SelectMany(l => l)];
        }
    }

    /// <summary>This replica's connection with that id, if it is still here.</summary>
    public SwitchConnection? Find(string connectionId)
    {
        if (connectionId.Length == 0)
        {
            return null;
        }

        lock (_lock)
        {
            return _bySwitch.Values.SelectMany(l => l).FirstOrDefault(c => c.Id == connectionId);
        }
    }

    public IReadOnlyList<SwitchConnection> Of(string switchId)
    {
        lock (_lock)
        {
            return _bySwitch.TryGetValue(switchId, out var list) ? [.. list] : [];
        }
    }

    /// <summary>Connected switches with their free window places on this replica.</summary>
    public IReadOnlyList<(string SwitchId, int Free, int AdmissionRate)> FreeWindows()
    {
        lock (_lock)
        {
            // The switch's rate is the lowest any of its live instances declared (0: none declared a limit).
            return [.. _bySwitch.Select(s => (s.Key, s.Value.Where(c => c.StuckSince is null).Sum(c => Math.Max(0, c.Free)),
                s.Value.Select(c => c.AdmissionRate).Where(r => r > 0).DefaultIfEmpty(0).Min()))];
        }
    }

    /// <summary>The healthy connection with the most room, with a place reserved for the command; null when all are full or stuck.</summary>
    public SwitchConnection? Reserve(string switchId, string callId, DateTimeOffset now)
    {
        // An instance that rejected this command comes last: another live instance gets the next attempt.
        foreach (var connection in Of(switchId).Where(c => c.StuckSince is null).OrderBy(c => c.HasRejected(callId)).ThenByDescending(c => c.Free))
        {
            if (connection.TryReserve(callId, now))
            {
                return connection;
            }
        }

        return null;
    }

    /// <summary>Frees a command's place wherever on this replica it was held.</summary>
    public IReadOnlyList<SwitchConnection> Release(string callId)
    {
        var holders = new List<SwitchConnection>();
        foreach (var connection in All())
        {
            if (connection.Release(callId))
            {
                holders.Add(connection);
            }
        }

        return holders;
    }
}
