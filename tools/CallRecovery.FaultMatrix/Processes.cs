using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace CallRecovery.FaultMatrix;

/// <summary>Processes the matrix owns; every one is killed when the matrix ends, however it ends.</summary>
public static class OwnedProcesses
{
    private static readonly ConcurrentDictionary<int, Process> Running = new();

    static OwnedProcesses() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();

    public static Process Start(ProcessStartInfo start, Action<string>? output = null)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start.");
        process.OutputDataReceived += (_, e) => { if (e.Data is { } line) { output?.Invoke(line); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) { output?.Invoke(line); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Running[process.Id] = process;
        // Dies with us even when we are killed: a watchdog polls our pid.
        using var watchdog = Process.Start(new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", $"while kill -0 {Environment.ProcessId} 2>/dev/null && kill -0 {process.Id} 2>/dev/null; do sleep 1; done; kill -9 {process.Id} 2>/dev/null" },
            RedirectStandardOutput = true,
        });
        return process;
    }

    public static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        Running.TryRemove(process.Id, out _);
    }

    public static void KillAll()
    {
        foreach (var process in Running.Values)
        {
            try
            {
                Kill(process);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// redis-server with append-only persistence: fsynced before every reply by default (<c>appendfsync always</c>, what
/// <c>Redis:Durability Local</c> needs before Redis 7.2), or as <paramref name="appendFsync"/> says.
/// </summary>
public sealed class RedisNode(string directory, string appendFsync = "always")
{
    private Process? _process;

    public int Port { get; } = OwnedProcesses.FreePort();

    /// <summary>The primary it replicates, when it is a replica (taken at each start); null: a primary.</summary>
    public int? ReplicaOf { get; set; }

    /// <summary>Its append-only files.</summary>
    public string AppendOnlyDirectory => Path.Combine(directory, "appendonlydir");

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "yes", "--appendfsync", appendFsync },
        };
        if (ReplicaOf is { } primary)
        {
            start.ArgumentList.Add("--replicaof");
            start.ArgumentList.Add("127.0.0.1");
            start.ArgumentList.Add(primary.ToString(CultureInfo.InvariantCulture));
        }

        _process = OwnedProcesses.Start(start);
        // Reloading the append-only file of a long run (a million drops) takes well over 30 s on a loaded machine.
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},connectTimeout=500");
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException or RedisServerException && DateTime.UtcNow < deadline)
            {
                // Not listening yet, or still loading its append-only file (LOADING).
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The append-only file commands are appended to now (the incremental file the manifest names last).</summary>
    public string? CurrentAppendFile() =>
        Directory.Exists(AppendOnlyDirectory)
            ? Directory.GetFiles(AppendOnlyDirectory, "*.incr.aof").OrderBy(f => int.Parse(Path.GetFileName(f).Split('.')[2], CultureInfo.InvariantCulture)).LastOrDefault()
            : null;

    /// <summary>kill -9: what was not yet fsynced (up to a second) is lost.</summary>
    public void Kill()
    {
        if (_process is not null)
        {
            OwnedProcesses.Kill(_process);
        }
    }

    /// <summary>A graceful restart's first half: SHUTDOWN, which writes the append-only file out.</summary>
    public async Task ShutdownAsync()
    {
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},allowAdmin=true");
            await connection.GetDatabase().ExecuteAsync("SHUTDOWN");
        }
        catch (RedisConnectionException)
        {
            // The connection drops as the server stops.
        }

        _process?.WaitForExit(30_000);
        Kill();
    }
}

/// <summary>One replica of the service as its own process (CallRecovery.dll beside this tool), configured by environment.</summary>
public sealed class ServiceReplica(string name, IReadOnlyDictionary<string, string> settings)
{
    private Process? _process;

    public string Name => name;

    public int HttpPort { get; } = OwnedProcesses.FreePort();

    public int SwitchingPort { get; } = OwnedProcesses.FreePort();

    /// <summary>The running process's id (for its RSS in /proc), or null before <see cref="Start"/>.</summary>
    public int? ProcessId => _process is { HasExited: false } process ? process.Id : null;

    public ConcurrentQueue<string> Log { get; } = new();

    public void Start()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "CallRecovery.dll") },
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{HttpPort}";
        start.Environment["Kestrel__Endpoints__Switching__Url"] = $"http://127.0.0.1:{SwitchingPort}";
        // The emulated switches come without certificates, on loopback only.
        start.Environment["Switching__AllowInsecure"] = "true";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        _process = OwnedProcesses.Start(start, line => Log.Enqueue($"{name}: {line}"));
    }

    /// <summary>kill -9: no shutdown hooks, no final commit.</summary>
    public void Kill()
    {
        if (_process is not null)
        {
            OwnedProcesses.Kill(_process);
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod, and waits for the process to end.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }

        using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        OwnedProcesses.Kill(_process);
    }

    public async Task WaitReadyAsync()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await client.GetAsync(new Uri("/health/ready", UriKind.Relative))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Busy starting.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{name} did not become ready: {string.Join('\n', Log.TakeLast(20))}");
    }
}
