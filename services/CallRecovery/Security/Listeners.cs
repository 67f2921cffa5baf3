using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace CallRecovery.Security;

/// <summary>
/// Each port serves only what it is for. The two Kestrel endpoints of the configuration ("Kestrel:Endpoints:Http"
/// and "Kestrel:Endpoints:Switching") tag every connection they accept with their name; every route says which
/// listener serves it (<see cref="ServedOn"/>), and the router does not see a route on any other listener, so it
/// answers 404 there. The tag is taken from the socket a connection arrived on, not from a Host header a client
/// could write.
/// </summary>
public static class Listeners
{
    /// <summary>HTTP API, health and metrics.</summary>
    public const string Http = "Http";

    /// <summary>The switches' gRPC services, the recovery lookup and gRPC health.</summary>
    public const string Switching = "Switching";

    /// <summary>Routes only the named listener serves.</summary>
    public static TBuilder ServedOn<TBuilder>(this TBuilder builder, string listener)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ServedOnListener(listener));

    /// <summary>
    /// The named endpoints: each tags its connections; the switching endpoint requires switch certificates when
    /// mutual TLS is on, the HTTP endpoint asks for (but does not require) API client certificates when that
    /// scheme is configured.
    /// </summary>
    internal static void Configure(KestrelServerOptions kestrel, IConfiguration configuration, ClientCertificatePolicy? switches, ClientCertificatePolicy? apiClients)
    {
        kestrel.Configure(configuration.GetSection("Kestrel"))
            .Endpoint(Http, endpoint =>
            {
                Tag(endpoint.ListenOptions, Http);
                if (apiClients is not null)
                {
                    endpoint.HttpsOptions.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    endpoint.HttpsOptions.ClientCertificateValidation = (certificate, _, _) => apiClients.Refusal(certificate) is null;
                }
            })
            .Endpoint(Switching, endpoint =>
            {
                Tag(endpoint.ListenOptions, Switching);
                if (switches is not null)
                {
                    endpoint.HttpsOptions.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
                    endpoint.HttpsOptions.ClientCertificateValidation = (certificate, _, _) => switches.Refusal(certificate) is null;
                }
            });
    }

    private static void Tag(ListenOptions listen, string name)
    {
        var feature = new ListenerFeature(name);
        listen.Use(next => connection =>
        {
            connection.Features.Set(feature);
            return next(connection);
        });
    }

    /// <summary>The listener a connection arrived on.</summary>
    internal sealed record ListenerFeature(string Name);

    internal sealed record ServedOnListener(string Name);

    /// <summary>Hides a route from every listener but its own (a connection without a tag sees none of the tagged routes).</summary>
    internal sealed class MatcherPolicy : Microsoft.AspNetCore.Routing.MatcherPolicy, IEndpointSelectorPolicy
    {
        // Before the HTTP-method and gRPC policies, so a route hidden here never turns into a 405.
        public override int Order => -1000;

        public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
            endpoints.Any(e => e.Metadata.GetMetadata<ServedOnListener>() is not null);

        public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
        {
            var listener = httpContext.Features.Get<ListenerFeature>()?.Name;
            for (var i = 0; i < candidates.Count; i++)
            {
                if (candidates[i].Endpoint.Metadata.GetMetadata<ServedOnListener>() is { } servedOn && !string.Equals(servedOn.Name, listener, StringComparison.Ordinal))
                {
                    candidates.SetValidity(i, false);
                }
            }

            return Task.CompletedTask;
        }
    }
}
