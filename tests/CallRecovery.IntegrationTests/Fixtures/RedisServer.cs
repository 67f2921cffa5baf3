using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// A real redis-server (Debian's package) on a free loopback port, with append-only persistence so that a
/// stop and start keeps its data, as a production Redis would. Killed on dispose.
/// </summary>
public sealed class RedisServer : IRedisEndpoint
{
    private readonly string _directory = System.IO.Directory.CreateTempSubdirectory("callrecovery-redis-").FullName;
    private readonly string[] _arguments;
    private Process? _process;

    private RedisServer(int port, string[] arguments) => (Port, _arguments) = (port, arguments);

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Its data directory (the append-only files are in appendonlydir/ under it).</summary>
    public string Directory => _directory;

    /// <param name="arguments">Further redis-server options (a later option overrides the defaults, e.g. "--appendfsync", "everysec").</param>
    public static async Task<RedisServer> StartNewAsync(params string[] arguments)
    {
        var server = new RedisServer(FreePort(), arguments);
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", _directory, "--save", "", "--appendonly", "yes", "--appendfsync", "always" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in _arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start; install it (apt-get install redis-server).");
        OwnedProcesses.Adopt(_process);
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync($"{ConnectionString},connectTimeout=500");
                await connection.GetDatabase().PingAsync();
                return true;
            }
            catch (RedisConnectionException)
            {
                return false;
            }
        }, "redis-server answers PING");
    }

    /// <summary>Stops the process where it stands (SIGSTOP): connections stay open, nothing is answered, as a host that hangs.</summary>
    public void Freeze() => Signal("STOP");

    /// <summary>Lets a frozen process go on (SIGCONT).</summary>
    public void Thaw() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {_process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        kill.WaitForExit();
    }

    /// <summary>Kills the server as a crash or network cut would; data already written stays in the append-only file.</summary>
    public Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            Signal("CONT");
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            OwnedProcesses.Release(_process);
        }

        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        System.IO.Directory.Delete(_directory, recursive: true);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
