using CallRecovery.Contracts;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using CallRecovery.Policy;

namespace CallRecovery.SwitchApi;

public static class SwitchApiServiceCollectionExtensions
{
    /// <summary>The switching port: the Switching and RecoveryLookup gRPC services, gRPC health, keepalives and mutual TLS.</summary>
    public static IServiceCollection AddSwitchApi(this IServiceCollection services)
    {
        services.AddGrpc();
        services.AddGrpcHealthChecks();
        // Server reflection, so grpcurl can discover the API (behind the same mutual TLS as everything on this port).
        services.AddGrpcReflection();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<SwitchingOptions>>((kestrel, switching) => ConfigureTransport(kestrel, switching.Value));
        return services;
    }

    /// <summary>
    /// Kestrel for switch streams: HTTP/2 keepalive pings so a dead switch connection is noticed in seconds,
    /// and with mutual TLS, client certificates required and checked against the switch CA.
    /// The endpoints themselves come from the standard "Kestrel:Endpoints" configuration.
    /// </summary>
    private static void ConfigureTransport(KestrelServerOptions kestrel, SwitchingOptions switching)
    {
        kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
        kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(5);
        if (!switching.RequireClientCertificate || switching.ClientCertificateAuthorityPath is not { } caPath || !File.Exists(caPath))
        {
            return;
        }

        var switchAuthority = new PrivateCertificateAuthority(caPath);
        kestrel.ConfigureHttpsDefaults(https =>
        {
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.ClientCertificateValidation = (certificate, _, _) => switchAuthority.Issued(certificate);
        });
    }
}
