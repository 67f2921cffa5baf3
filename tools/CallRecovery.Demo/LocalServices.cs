using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CallRecovery.EmbeddedKafka;

namespace CallRecovery.Demo;

/// <summary>
/// Everything the service needs, started locally: librdkafka's mock Kafka cluster (in this process),
/// a redis-server process, and the service itself as a process. Disposing stops them all.
/// </summary>
public sealed class LocalServices : IAsyncDisposable
{
    public const string EventsTopic = "callrecovery.network-events.v1";
    public const string DeadLetterTopic = "callrecovery.network-events.dlq";
    public const string OutcomesTopic = "callrecovery.outcomes.v1";
    public const string CompensationsTopic = "callrecovery.compensations.v1";

    private readonly MockKafkaCluster _kafka;
    private readonly string _workDirectory;
    private Process? _redis;
    private Process? _service;

    private LocalServices(MockKafkaCluster kafka, string workDirectory)
    {
        _kafka = kafka;
        _workDirectory = workDirectory;
    }

    public string BootstrapServers => _kafka.BootstrapServers;

    public int RedisPort { get; private set; }

    public Uri ServiceHttp { get; private set; } = null!;

    public Uri ServiceSwitching { get; private set; } = null!;

    public string ServiceLog => Path.Combine(_workDirectory, "service.log");

    /// <summary>The signing key the service trusts in this run and an operator token for its HTTP API.</summary>
    public DemoCredentials? Credentials { get; private set; }

    public int? RedisProcessId => _redis?.Id;

    public int? ServiceProcessId => _service?.Id;

    public static async Task<LocalServices> StartAsync(IReadOnlyDictionary<string, string> serviceSettings, CancellationToken cancellationToken)
    {
        var kafka = new MockKafkaCluster(brokers: 1);
        kafka.CreateTopic(EventsTopic, 6);
        kafka.CreateTopic(DeadLetterTopic, 1);
        kafka.CreateTopic(OutcomesTopic, 3);
        kafka.CreateTopic(CompensationsTopic, 3);
        var stack = new LocalServices(kafka, Directory.CreateTempSubdirectory("callrecovery-demo-").FullName);
        try
        {
            stack.StartRedis();
            stack.Credentials = new DemoCredentials(stack._workDirectory);
            var settings = new Dictionary<string, string>(serviceSettings);
            stack.Credentials.ApplyTo(settings);
            await stack.StartServiceAsync(settings, cancellationToken);
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    private void StartRedis()
    {
        RedisPort = FreePort();
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", RedisPort.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", _workDirectory },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _redis = Process.Start(start) ?? throw new InvalidOperationException("redis-server could not start: install it (apt-get install redis-server).");
        _redis.BeginOutputReadLine();
        _redis.BeginErrorReadLine();
    }

    private async Task StartServiceAsync(IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        ServiceHttp = new Uri($"http://127.0.0.1:{FreePort().ToString(CultureInfo.InvariantCulture)}");
        ServiceSwitching = new Uri($"http://127.0.0.1:{FreePort().ToString(CultureInfo.InvariantCulture)}");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "CallRecovery.dll") },
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var environment = new Dictionary<string, string>(settings)
        {
            ["Kafka:BootstrapServers"] = BootstrapServers,
            ["Redis:ConnectionString"] = $"127.0.0.1:{RedisPort.ToString(CultureInfo.InvariantCulture)}",
            ["Kestrel:Endpoints:Http:Url"] = ServiceHttp.ToString(),
            ["Kestrel:Endpoints:Switching:Url"] = ServiceSwitching.ToString(),
            // The demo's switches come without certificates, on loopback only (the service says so loudly at start).
            ["Switching:AllowInsecure"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:Console:FormatterName"] = "simple",
        };
        foreach (var (key, value) in environment)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        _service = Process.Start(start) ?? throw new InvalidOperationException("The service could not start.");
        var log = new StreamWriter(ServiceLog) { AutoFlush = true };
        _service.OutputDataReceived += (_, e) => Write(log, e.Data);
        _service.ErrorDataReceived += (_, e) => Write(log, e.Data);
        _service.BeginOutputReadLine();
        _service.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = ServiceHttp, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_service.HasExited)
            {
                throw new InvalidOperationException($"The service stopped at start-up; see {ServiceLog}.");
            }

            try
            {
                if ((await http.GetAsync(new Uri("/health/ready", UriKind.Relative), cancellationToken)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Slow answer: ask again.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The service did not become ready within 60 s; see {ServiceLog}.");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Credentials?.Dispose();
        await StopAsync(_service, TimeSpan.FromSeconds(15));
        await StopAsync(_redis, TimeSpan.FromSeconds(5));
        _kafka.Dispose();
        try
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
        catch (IOException)
        {
            // The log may still be open on a slow file system; the temp folder is cleaned by the OS.
        }
    }

    /// <summary>SIGTERM first (the service leaves its consumer group and hands back its switches), then kill.</summary>
    private static async Task StopAsync(Process? process, TimeSpan grace)
    {
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            using var wait = new CancellationTokenSource(grace);
            try
            {
                await process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        process.Dispose();
    }

    /// <summary>A line of a child process's output to its log (several readers write at once).</summary>
    internal static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    /// <summary>A free loopback port, as the system hands one out.</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
