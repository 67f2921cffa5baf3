using System.Net;
using System.Net.Sockets;

namespace CallRecovery.FaultMatrix;

/// <summary>
/// A TCP proxy on loopback that the matrix puts between two parts (service and Redis, switch and service) to
/// break the link on purpose: added latency, every connection reset, or a black hole (connections stay open,
/// nothing passes: a half-open link, as a frozen peer looks from the other side).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private volatile int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TcpClient In, TcpClient Out)> _links = [];
    private readonly Lock _lock = new();
    private readonly Task _accepting;
    private volatile int _latencyMs;
    private volatile bool _blackHole;

    public FaultProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public void Latency(TimeSpan latency) => _latencyMs = (int)latency.TotalMilliseconds;

    public void BlackHole(bool on) => _blackHole = on;

    /// <summary>New connections go to another port from now on (a virtual address moved to a new primary); open ones are reset.</summary>
    public void Retarget(int targetPort)
    {
        _target = targetPort;
        ResetAll();
    }

    /// <summary>Resets every open connection (RST), as a network element dropping the flows would.</summary>
    public void ResetAll()
    {
        lock (_lock)
        {
            foreach (var (a, b) in _links)
            {
                foreach (var side in (TcpClient[])[a, b])
                {
                    try
                    {
                        side.Client?.LingerState = new LingerOption(true, 0);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                        // Already closed by its pump.
                    }

                    side.Dispose();
                }
            }

            _links.Clear();
        }
    }

    public void Heal()
    {
        _latencyMs = 0;
        _blackHole = false;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        ResetAll();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            var outbound = new TcpClient { NoDelay = true };
            inbound.NoDelay = true;
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            }
            catch (SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_lock)
            {
                _links.Add((inbound, outbound));
            }

            _ = PumpAsync(inbound, outbound);
            _ = PumpAsync(outbound, inbound);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            var source = from.GetStream();
            var sink = to.GetStream();
            while (true)
            {
                var read = await source.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                while (_blackHole && !_stop.IsCancellationRequested)
                {
                    // Held, not dropped: when the link heals the bytes flow, as after a long stall.
                    await Task.Delay(50, _stop.Token);
                }

                if (_latencyMs > 0)
                {
                    await Task.Delay(_latencyMs, _stop.Token);
                }

                await sink.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or SocketException or InvalidOperationException)
        {
            // The link broke (on purpose or not): the other side sees it.
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
