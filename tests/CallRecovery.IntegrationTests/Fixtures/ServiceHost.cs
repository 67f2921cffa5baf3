using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>The service in-process (its real Program), configured by injected settings, never by edited files.</summary>
public sealed class ServiceHost(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }

    /// <summary>Builds the host, which starts the consumer.</summary>
    public ServiceHost Started()
    {
        _ = Services;
        return this;
    }
}
