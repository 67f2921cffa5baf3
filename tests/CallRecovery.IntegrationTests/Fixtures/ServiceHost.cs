using System.Globalization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// The service in-process (its real Program) on real Kestrel sockets: HTTP/1.1 for health and lookup,
/// HTTP/2 for the switch API, both on loopback. Configured by injected settings, never by edited files.
/// </summary>
public sealed class ServiceHost : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;
    private readonly Action<IServiceCollection>? _services;

    /// <param name="settings">Configuration, as keys and values.</param>
    /// <param name="services">Extra registrations for the test, e.g. an in-memory trace exporter.</param>
    /// <param name="clock">The service's clock, when the test moves time (a <c>ShiftedClock</c>); the system's otherwise.</param>
    public ServiceHost(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null, TimeProvider? clock = null)
    {
        _services = clock is null ? services : s =>
        {
            s.AddSingleton(clock);
            services?.Invoke(s);
        };
        var httpPort = RedisServer.FreePort();
        var switchingPort = RedisServer.FreePort();
        var tls = settings.ContainsKey("Kestrel:Endpoints:Switching:Certificate:Path");
        var httpTls = settings.ContainsKey("Kestrel:Endpoints:Http:Certificate:Path");
        HttpAddress = new Uri($"{(httpTls ? "https://localhost" : "http://127.0.0.1")}:{httpPort.ToString(CultureInfo.InvariantCulture)}");
        SwitchingAddress = new Uri($"{(tls ? "https" : "http")}://{(tls ? "localhost" : "127.0.0.1")}:{switchingPort.ToString(CultureInfo.InvariantCulture)}");
        _settings = new Dictionary<string, string?>(settings)
        {
            ["Kestrel:Endpoints:Http:Url"] = $"{(httpTls ? "https" : "http")}://127.0.0.1:{httpPort.ToString(CultureInfo.InvariantCulture)}",
            ["Kestrel:Endpoints:Http:Protocols"] = "Http1",
            ["Kestrel:Endpoints:Switching:Url"] = $"{(tls ? "https" : "http")}://127.0.0.1:{switchingPort.ToString(CultureInfo.InvariantCulture)}",
            ["Kestrel:Endpoints:Switching:Protocols"] = "Http2",
        };
        if (!tls)
        {
            // A plain-text switching port on loopback: the tests' switches come without certificates.
            _settings.TryAdd("Switching:AllowInsecure", "true");
        }

        UseKestrel();
    }

    public Uri HttpAddress { get; }

    public Uri SwitchingAddress { get; }

    public HttpClient CreateHttpClient() => new() { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(10) };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        if (_services is not null)
        {
            builder.ConfigureTestServices(_services);
        }
    }

    /// <summary>Builds and starts the host: consumer, dispatcher and sockets.</summary>
    public ServiceHost Started()
    {
        StartServer();
        return this;
    }
}
