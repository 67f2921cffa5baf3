using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CallRecovery.SwitchApi;

public static class SwitchApiServiceCollectionExtensions
{
    /// <summary>The switching port: the Switching and RecoveryLookup gRPC services, gRPC health, keepalives.</summary>
    public static IServiceCollection AddSwitchApi(this IServiceCollection services)
    {
        services.AddGrpc();
        services.AddSingleton<SwitchReports>();
        services.AddGrpcHealthChecks();
        // Server reflection, so grpcurl can discover the API (behind the same mutual TLS as everything on this port).
        services.AddGrpcReflection();
        services.AddOptions<KestrelServerOptions>().Configure(ConfigureTransport);
        return services;
    }

    /// <summary>
    /// Kestrel for switch streams: HTTP/2 keepalive pings so a dead switch connection is noticed in seconds.
    /// Which certificates the switching port takes is the Security area's (<c>Listeners</c>).
    /// </summary>
    private static void ConfigureTransport(KestrelServerOptions kestrel)
    {
        kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
        kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(5);
    }
}
