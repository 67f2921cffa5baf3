using System.Collections.Concurrent;
using System.Diagnostics;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// The service as a real operating-system process (the built CallRecovery.dll), configured by environment
/// variables, for what only a process can show: being killed without a chance to commit.
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ServiceProcess(Process process, Uri httpAddress, Uri switchingAddress)
    {
        HttpAddress = httpAddress;
        SwitchingAddress = switchingAddress;
        _process = process;
        OwnedProcesses.Adopt(process);
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output => string.Join('\n', _output);

    /// <summary>The service's HTTP port (health, metrics, the API) and switching port (HTTP/2 gRPC), on loopback.</summary>
    public Uri HttpAddress { get; }

    public Uri SwitchingAddress { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The service (CallRecovery.dll), or another program built beside the tests, with settings as environment variables.</summary>
    public static ServiceProcess Start(IReadOnlyDictionary<string, string?> settings, string program = "CallRecovery.dll", params string[] arguments) =>
        StartIn(AppContext.BaseDirectory, settings, program, arguments);

    /// <summary>As <see cref="Start"/>, from another working directory (as an operator might start it).</summary>
    public static ServiceProcess StartIn(string workingDirectory, IReadOnlyDictionary<string, string?> settings, string program = "CallRecovery.dll", params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, program) },
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var http = new Uri($"http://127.0.0.1:{RedisServer.FreePort()}");
        var switching = new Uri($"http://127.0.0.1:{RedisServer.FreePort()}");
        start.Environment["Kestrel__Endpoints__Http__Url"] = http.ToString().TrimEnd('/');
        start.Environment["Kestrel__Endpoints__Switching__Url"] = switching.ToString().TrimEnd('/');
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        // A plain-text switching port on loopback (the tests' switches come without certificates) unless the settings say otherwise.
        start.Environment["Switching__AllowInsecure"] = "true";
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        return new ServiceProcess(Process.Start(start) ?? throw new InvalidOperationException("Could not start the service process."), http, switching);
    }

    /// <summary>Sends a POSIX signal (INT for Ctrl-C, TERM as Kubernetes does).</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public Task WaitForExitAsync() => _process.WaitForExitAsync().WaitAsync(Eventually.Limit);

    /// <summary>SIGKILL: no shutdown hooks, no final commit, as when a node dies.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        OwnedProcesses.Release(_process);
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }
}
