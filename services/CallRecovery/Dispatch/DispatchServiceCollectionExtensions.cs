using CallRecovery.Contracts;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace CallRecovery.Dispatch;

public static class DispatchServiceCollectionExtensions
{
    /// <summary>Scheduling, the switch gRPC API and the delivery loop.</summary>
    public static IServiceCollection AddDispatch(this IServiceCollection services)
    {
        services.AddOptions<SwitchingOptions>().BindConfiguration(SwitchingOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Routes.Values.All(SwitchIds.IsValid), "Switching:Routes values must be switch ids: 1-64 letters, digits, '.', '_' or '-'.")
            .Validate(o => o.CallbackDeadline > o.GracePeriod, "Switching:CallbackDeadline must be longer than Switching:GracePeriod.")
            .Validate(o => !o.RequireClientCertificate || File.Exists(o.ClientCertificateAuthorityPath),
                "Switching:RequireClientCertificate needs Switching:ClientCertificateAuthorityPath, a PEM file of the CA that signs switch certificates.")
            .Validate(o => o.Announcement.Languages.Keys.All(p => p.StartsWith('+')), "Switching:Announcement:Languages keys must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.AddGrpc();
        services.AddGrpcHealthChecks();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<SwitchingOptions>>((kestrel, switching) => ConfigureTransport(kestrel, switching.Value));
        services.AddSingleton<SwitchRouter>();
        services.AddSingleton<SwitchConnections>();
        services.AddSingleton<CallbackCommands>();
        services.AddSingleton<RecoveryScheduler>();
        services.AddHostedService<DispatchLoop>();
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
