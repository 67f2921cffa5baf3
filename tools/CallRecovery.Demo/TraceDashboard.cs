using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;

namespace CallRecovery.Demo;

/// <summary>
/// The Aspire dashboard's standalone build (NuGet package Aspire.Dashboard.Sdk.linux-x64, restored with the demo) run as
/// a plain process on free loopback ports: traces, structured logs and metrics in a browser. The browser signs in with
/// a token made for this run (in the printed link); OTLP is taken unauthenticated, on loopback only.
/// </summary>
public sealed class TraceDashboard : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _token;

    private TraceDashboard(Process process, Uri browser, Uri otlp, string token)
    {
        _process = process;
        Browser = browser;
        Otlp = otlp;
        _token = token;
    }

    /// <summary>The dashboard's process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>The dashboard's web address.</summary>
    public Uri Browser { get; }

    /// <summary>Its OTLP/gRPC endpoint, for OTEL_EXPORTER_OTLP_ENDPOINT.</summary>
    public Uri Otlp { get; }

    /// <summary>The link that signs the browser in (the token is this run's).</summary>
    public Uri SignIn => new(Browser, "login?t=" + _token);

    /// <summary>The key of its telemetry API (header x-api-key): this run's token.</summary>
    public string ApiKey => _token;

    /// <summary>A trace's page in the dashboard.</summary>
    public Uri TraceLink(string traceId) => new(Browser, "traces/detail/" + traceId);

    /// <summary>The executable as restored for the demo's build.</summary>
    public static string Executable =>
        typeof(TraceDashboard).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "AspireDashboard")?.Value
        ?? throw new InvalidOperationException("The demo was built without the Aspire dashboard package.");

    public static async Task<TraceDashboard> StartAsync(string logPath, CancellationToken cancellationToken)
    {
        var executable = Executable;
        if (!File.Exists(executable))
        {
            throw new FileNotFoundException($"The Aspire dashboard is not where the demo's restore put it ({executable}); run ./demo.sh again, or --no-dashboard.", executable);
        }

        var (web, otlp) = (LocalServices.FreePort(), LocalServices.FreePort());
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var start = new ProcessStartInfo(executable)
        {
            WorkingDirectory = Path.GetDirectoryName(executable)!,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{web.ToString(CultureInfo.InvariantCulture)}",
                ["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{otlp.ToString(CultureInfo.InvariantCulture)}",
                ["Dashboard__Frontend__AuthMode"] = "BrowserToken",
                ["Dashboard__Frontend__BrowserToken"] = token,
                ["Dashboard__Otlp__AuthMode"] = "Unsecured",
                // Its telemetry API (what tests and scripts read) takes the same token as an API key.
                ["Dashboard__Api__AuthMode"] = "ApiKey",
                ["Dashboard__Api__PrimaryApiKey"] = token,
                ["DOTNET_ENVIRONMENT"] = "Production",
            },
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("The Aspire dashboard could not start.");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => LocalServices.Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => LocalServices.Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var dashboard = new TraceDashboard(process, new Uri($"http://127.0.0.1:{web.ToString(CultureInfo.InvariantCulture)}/"), new Uri($"http://127.0.0.1:{otlp.ToString(CultureInfo.InvariantCulture)}"), token);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var until = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The Aspire dashboard stopped at start (exit {process.ExitCode}); see {logPath}.");
            }

            try
            {
                using var reply = await http.GetAsync(dashboard.Browser, cancellationToken);
                return dashboard;
            }
            catch (HttpRequestException) when (DateTimeOffset.UtcNow < until)
            {
                await Task.Delay(200, cancellationToken);
            }
            catch (TaskCanceledException) when (DateTimeOffset.UtcNow < until && !cancellationToken.IsCancellationRequested)
            {
                // Not answering yet.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
