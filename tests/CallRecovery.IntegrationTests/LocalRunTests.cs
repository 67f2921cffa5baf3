using System.Diagnostics;
using System.Text.RegularExpressions;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using Xunit.Abstractions;

namespace CallRecovery.IntegrationTests;

/// <summary>The README's first command and the service's start-up, as a new user meets them.</summary>
public sealed partial class LocalRunTests(ITestOutputHelper output)
{
    /// <summary>Spans every recovery's trace has in the demo, from the simulated network's report to the outcome's publish.</summary>
    private static readonly string[] TraceSpans =
    [
        "callrecovery.network-events.v1 publish", "callrecovery.network-events.v1 process", "recovery decide", "recovery schedule", "recovery dispatch", "recovery acknowledge",
        "switch place callback", "switch customer answered", "switch reconnect bridged", "recovery outcome", "callrecovery.outcomes.v1 publish",
    ];

    /// <summary>What sends the demo's dashboard traces, logs and metrics: the service, the traffic simulator, the emulated switches.</summary>
    private static readonly string[] TelemetryResources = ["callrecovery", "traffic-simulator", "switch-emulator"];

    /// <summary>
    /// The same story as the dashboard's trace page shows it: the resources, span names, and the dashboard's own
    /// summaries of messaging and RPC spans ("MSG kafka {topic}", "RPC {service}/{method}" for the dispatch).
    /// </summary>
    private static readonly string[] TracePage =
    [
        "traffic-simulator: callrecovery.network-events.v1 publish", "MSG kafka callrecovery.network-events.v1", "recovery decide", "recovery schedule",
        "RPC callrecovery.v1.Switching/Connect", "switch-emulator", "switch place callback", "switch customer answered", "switch reconnect bridged",
        "recovery acknowledge", "recovery outcome", "MSG kafka callrecovery.outcomes.v1",
    ];

    [Fact]
    public async Task The_demo_runs_shows_recoveries_and_stops_cleanly_on_ctrl_c()
    {
        using var demo = ServiceProcess.Start(new Dictionary<string, string?>(), "CallRecovery.Demo.dll", "--plain", "--rate", "20");
        await Eventually.TrueAsync(() => CallbacksSent().IsMatch(demo.Output) && demo.Output.Contains("we called back", StringComparison.Ordinal), "the demo shows callbacks and recovery stories", TimeSpan.FromSeconds(90));
        var processes = ChildProcesses().Match(demo.Output);
        Assert.True(processes.Success, "the demo names its redis-server and service processes");

        // The printed curl command works: the demo's token reads a story's call record; no token, no record.
        var curl = CurlLine().Match(demo.Output);
        Assert.True(curl.Success, "the demo prints how to call the API with its token");
        var story = StoryCallId().Match(demo.Output);
        Assert.True(story.Success, "a story names its call id");
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            var record = new Uri(new Uri(curl.Groups["base"].Value), "v1/calls/" + story.Groups["call"].Value);
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync(record)).StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Get, record);
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(curl.Groups["token"].Value)).Trim());
            using var response = await http.SendAsync(request);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.False(FullNumber().IsMatch(await response.Content.ReadAsStringAsync()), "the call record shows numbers masked");
        }

        // The Aspire dashboard it started has a reconnected customer's recovery trace, from the decision through the
        // emulated switch's own spans (placing the call, answered, bridged) to the outcome's publish.
        var dashboard = DashboardLine().Match(demo.Output);
        Assert.True(dashboard.Success, "the demo prints the dashboard's link");
        await Eventually.TrueAsync(() => TraceLink().IsMatch(demo.Output), "a reconnected customer's story, with its trace link", TimeSpan.FromSeconds(90));
        var traced = TraceLink().Match(demo.Output);
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            http.DefaultRequestHeaders.Add("x-api-key", dashboard.Groups["token"].Value);
            var trace = new Uri(new Uri(dashboard.Groups["base"].Value), "api/telemetry/traces/" + traced.Groups["trace"].Value);
            await Eventually.TrueAsync(async () =>
            {
                // Not found until the first of its spans is exported (each process sends its spans every few seconds).
                using var answer = await http.GetAsync(trace);
                var spans = answer.IsSuccessStatusCode ? await answer.Content.ReadAsStringAsync() : string.Empty;
                return TraceSpans.All(name => spans.Contains($"\"name\":\"{name}\"", StringComparison.Ordinal));
            }, "the dashboard shows the story's recovery trace", TimeSpan.FromSeconds(60));

            // The service, the traffic simulator and the emulated switches each send it traces, logs and metrics.
            var resources = new Uri(new Uri(dashboard.Groups["base"].Value), "api/telemetry/resources");
            await Eventually.TrueAsync(async () =>
            {
                using var listed = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(resources));
                var complete = listed.RootElement.EnumerateArray()
                    .Where(r => r.GetProperty("hasTraces").GetBoolean() && r.GetProperty("hasLogs").GetBoolean() && r.GetProperty("hasMetrics").GetBoolean())
                    .Select(r => r.GetProperty("name").GetString());
                return TelemetryResources.All(complete.Contains);
            }, "traces, logs and metrics from the service, the simulator and the switches", TimeSpan.FromSeconds(60));
        }

        // And an engineer's browser shows it: the printed trace link, opened in headless Chromium after the printed
        // sign-in link, lists the same spans (the screenshot is kept with the test results).
        var screenshot = Repository.PathOf(Path.Combine("TestResults", "trace-in-dashboard.png"));
        await using (var browser = await HeadlessBrowser.StartAsync())
        {
            var shown = await browser.ShowAsync(
                new Uri(dashboard.Groups["base"].Value + "login?t=" + dashboard.Groups["token"].Value),
                new Uri(traced.Groups["link"].Value),
                TracePage,
                screenshot,
                TimeSpan.FromSeconds(60));
            Assert.False(FullNumber().IsMatch(shown), "no full phone number on the trace page");
        }

        output.WriteLine("The trace page as the browser showed it: " + screenshot);

        demo.Signal("INT");
        await demo.WaitForExitAsync();

        Assert.Equal(0, demo.ExitCode);
        Assert.Contains("Stopped:", demo.Output, StringComparison.Ordinal);
        
        Assert.False(FullNumber().IsMatch(demo.Output), "no full phone number on the console");
        foreach (var pid in new[] { processes.Groups["redis"].Value, processes.Groups["service"].Value, dashboard.Groups["pid"].Value })
        {
            Assert.False(IsRunning(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture)), $"process {pid} was stopped");
        }
    }

    [Fact]
    public async Task The_service_says_what_is_missing_when_kafka_and_redis_are_not_configured()
    {
        using var service = ServiceProcess.Start(new Dictionary<string, string?>());
        await service.WaitForExitAsync();

        Assert.NotEqual(0, service.ExitCode);
        Assert.Contains("Kafka:BootstrapServers is required", service.Output, StringComparison.Ordinal);
        Assert.Contains("Redis:ConnectionString is required", service.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_service_names_a_setting_whose_value_has_the_wrong_form()
    {
        using var service = ServiceProcess.Start(new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = "127.0.0.1:9",
            ["Redis:ConnectionString"] = "127.0.0.1:9",
            ["Switching:GracePeriod"] = "twenty seconds",
        });
        await service.WaitForExitAsync();

        Assert.Equal(2, service.ExitCode);
        Assert.Contains("cannot start; fix its configuration", service.Output, StringComparison.Ordinal);
        Assert.Contains("'twenty seconds' at 'Switching:GracePeriod'", service.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_default_settings_the_switching_port_requires_client_certificates_and_an_insecure_one_stays_on_loopback()
    {
        // The defaults (no Switching:AllowInsecure): without a switch CA and TLS the service does not start.
        using var secure = ServiceProcess.Start(new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = "127.0.0.1:9",
            ["Redis:ConnectionString"] = "127.0.0.1:9",
            ["Switching:AllowInsecure"] = null,
            ["Kestrel:Endpoints:Switching:Url"] = $"http://127.0.0.1:{RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)}",
        });
        await secure.WaitForExitAsync();
        Assert.Equal(2, secure.ExitCode);
        Assert.Contains("The switching port requires client certificates: set Switching:ClientCertificateAuthorityPath", secure.Output, StringComparison.Ordinal);
        Assert.Contains("Kestrel:Endpoints:Switching:Url must be https://", secure.Output, StringComparison.Ordinal);

        // Allowed insecure, but on every address: refused without the second setting.
        using var exposed = ServiceProcess.Start(new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = "127.0.0.1:9",
            ["Redis:ConnectionString"] = "127.0.0.1:9",
            ["Kestrel:Endpoints:Switching:Url"] = $"http://0.0.0.0:{RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)}",
        });
        await exposed.WaitForExitAsync();
        Assert.Equal(2, exposed.ExitCode);
        Assert.Contains("needs Switching:AllowInsecureOnNetwork=true as well", exposed.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Started_from_the_repository_root_the_service_reads_its_own_settings_and_serves_grpc_reflection()
    {
        var port = RedisServer.FreePort();
        using var service = ServiceProcess.StartIn(Repository.Root, new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = "127.0.0.1:9",
            ["Redis:ConnectionString"] = "127.0.0.1:9",
            // Only the address: that the switching port speaks HTTP/2 alone must come from its appsettings.json.
            ["Kestrel:Endpoints:Switching:Url"] = $"http://127.0.0.1:{port}",
        });

        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var services = new List<string>();
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var call = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
                await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = string.Empty });
                await call.RequestStream.CompleteAsync();
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
                services.AddRange(call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name));
                return true;
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.Unavailable && !service.HasExited)
            {
                return false;
            }
        }, "the switching port answers gRPC");

        Assert.Contains("callrecovery.v1.Switching", services);
        Assert.Contains("callrecovery.v1.RecoveryLookup", services);
        Assert.Contains("librdkafka 2.", service.Output, StringComparison.Ordinal);
        Assert.Contains("/runtimes/", service.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_SIGTERM_switch_streams_are_closed_at_once_telling_switches_to_reconnect()
    {
        var port = RedisServer.FreePort();
        using var service = ServiceProcess.Start(new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = "127.0.0.1:9",
            ["Redis:ConnectionString"] = "127.0.0.1:9",
            ["Kestrel:Endpoints:Switching:Url"] = $"http://127.0.0.1:{port}",
        });
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        Grpc.Core.AsyncDuplexStreamingCall<SwitchMessage, ServiceMessage>? call = null;
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                call?.Dispose();
                call = new Switching.SwitchingClient(channel).Connect();
                await call.RequestStream.WriteAsync(new SwitchMessage { Hello = new Hello { SwitchId = "switch-a", InstanceId = "i-1" } });
                return await call.ResponseStream.MoveNext(CancellationToken.None) && call.ResponseStream.Current.Welcome is not null;
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.Unavailable)
            {
                return false;
            }
        }, "the switch stream is open");

        service.Signal("TERM");

        var closed = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await call!.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Eventually.Limit));
        Assert.Equal(Grpc.Core.StatusCode.Unavailable, closed.StatusCode);
        Assert.Contains("shutting down", closed.Status.Detail, StringComparison.Ordinal);
        await service.WaitForExitAsync();
        call!.Dispose();
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"Callbacks: sent [1-9]")]
    private static partial Regex CallbacksSent();

    [GeneratedRegex(@"redis-server (?<redis>\d+), service (?<service>\d+)")]
    private static partial Regex ChildProcesses();

    [GeneratedRegex(@"\+\d{9,}")]
    private static partial Regex FullNumber();

    [GeneratedRegex(@"Bearer \$\(cat (?<token>\S+)\)\"" (?<base>http://\S+/)v1/calls/")]
    private static partial Regex CurlLine();

    [GeneratedRegex(@"\[call (?<call>[^\]\s]+)\]")]
    private static partial Regex StoryCallId();

    [GeneratedRegex(@"Aspire dashboard, process (?<pid>\d+);[^:]*: (?<base>http://127\.0\.0\.1:\d+/)login\?t=(?<token>[0-9a-f]+)")]
    private static partial Regex DashboardLine();

    [GeneratedRegex(@"took the free reconnection[^\n]*trace: (?<link>http://127\.0\.0\.1:\d+/traces/detail/(?<trace>[0-9a-f]{32}))")]
    private static partial Regex TraceLink();
}
