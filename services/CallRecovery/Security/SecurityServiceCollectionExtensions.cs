using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CallRecovery.Policy;
using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace CallRecovery.Security;

public static partial class SecurityServiceCollectionExtensions
{
    /// <summary>The scheme that picks a caller's scheme: a client certificate when one was presented, else a bearer token.</summary>
    public const string ApiScheme = "api";

    /// <summary>
    /// Who may reach what: the two listeners and what each serves, switch certificates on the switching port,
    /// JWT bearer tokens and API client certificates on the HTTP port, and the scope policies.
    /// </summary>
    public static IServiceCollection AddSecurity(this IServiceCollection services)
    {
        services.AddOptions<ApiAccessOptions>().BindConfiguration(ApiAccessOptions.Section)
            .Validate(o => string.IsNullOrWhiteSpace(o.Jwt.SigningKeysPath) || File.Exists(o.Jwt.SigningKeysPath),
                "HttpApi:Authentication:Jwt:SigningKeysPath must name a readable PEM file of the token signing public key(s).")
            .Validate(o => string.IsNullOrWhiteSpace(o.Jwt.SigningKeysPath) || !string.IsNullOrWhiteSpace(o.Jwt.Issuer),
                "HttpApi:Authentication:Jwt:Issuer is required with HttpApi:Authentication:Jwt:SigningKeysPath.")
            .Validate(o => string.IsNullOrWhiteSpace(o.Jwt.Authority) || Uri.TryCreate(o.Jwt.Authority, UriKind.Absolute, out _),
                "HttpApi:Authentication:Jwt:Authority must be an absolute URL of the identity provider.")
            .Validate(o => !o.JwtConfigured || !string.IsNullOrWhiteSpace(o.Jwt.Audience), "HttpApi:Authentication:Jwt:Audience must not be empty.")
            .Validate(o => !o.ClientCertificatesConfigured || File.Exists(o.ClientCertificates.AuthorityPath),
                "HttpApi:Authentication:ClientCertificates:AuthorityPath must name a readable PEM file of the API client CA.")
            .Validate(o => string.IsNullOrWhiteSpace(o.ClientCertificates.RevocationListPath) || File.Exists(o.ClientCertificates.RevocationListPath),
                "HttpApi:Authentication:ClientCertificates:RevocationListPath must name a readable CRL file.")
            .ValidateOnStart();
        services.AddOptions<SwitchingOptions>()
            .Validate<IConfiguration>((o, configuration) => o.AllowInsecure || SwitchingEndpoint(configuration) is not { } url || url.Scheme == "https",
                "The switching port requires client certificates, so Kestrel:Endpoints:Switching:Url must be https:// with the service's certificate (Kestrel:Endpoints:Switching:Certificate:Path and :KeyPath), or, on a laptop only, Switching:AllowInsecure=true.")
            .Validate<IConfiguration>((o, configuration) => !o.AllowInsecure || o.AllowInsecureOnNetwork || SwitchingEndpoint(configuration) is not { } url || Loopback.IsHost(url.Host),
                "Switching:AllowInsecure serves the switching port (both parties' numbers) to anyone who reaches it, so only on a loopback address (Kestrel:Endpoints:Switching:Url=http://127.0.0.1:8081); on a network address it needs Switching:AllowInsecureOnNetwork=true as well.");
        services.AddSingleton<CertificatePolicies>();
        services.AddOptions<KestrelServerOptions>().Configure<IConfiguration, CertificatePolicies>((kestrel, configuration, policies) =>
            Listeners.Configure(kestrel, configuration, policies.Switches, policies.ApiClients));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, Listeners.MatcherPolicy>());

        services.AddAuthentication(ApiScheme)
            .AddPolicyScheme(ApiScheme, "Bearer token or client certificate", o =>
            {
                o.ForwardDefaultSelector = http => http.Connection.ClientCertificate is not null ? CertificateAuthenticationDefaults.AuthenticationScheme : JwtBearerDefaults.AuthenticationScheme;
                // A caller without credentials is told to bring a token (401 with WWW-Authenticate: Bearer).
                o.ForwardChallenge = JwtBearerDefaults.AuthenticationScheme;
            })
            .AddJwtBearer()
            .AddCertificate();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<IOptions<ApiAccessOptions>>((o, access) => ConfigureJwt(o, access.Value.Jwt));
        services.AddOptions<CertificateAuthenticationOptions>(CertificateAuthenticationDefaults.AuthenticationScheme)
            .Configure<IOptions<ApiAccessOptions>, CertificatePolicies>((o, access, policies) => ConfigureCertificates(o, access.Value.ClientCertificates, policies));
        services.AddAuthorizationBuilder();
        services.Configure<AuthorizationOptions>(ApiScopes.AddPolicies);
        services.AddSingleton<IAuthorizationHandler, ApiScopes.ScopeHandler>();
        return services;
    }

    /// <summary>Says at start, once, when the personal-data endpoints are loopback-only because no authentication is configured.</summary>
    public static WebApplication WarnWhenTheApiIsUnauthenticated(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var access = app.Services.GetRequiredService<IOptions<ApiAccessOptions>>().Value;
        if (!access.AnyConfigured)
        {
            LogUnauthenticated(app.Logger);
        }
        else if (string.IsNullOrWhiteSpace(access.Jwt.Authority) && access.Jwt.SigningKeysPath is { } path && File.Exists(path) && UsableKeys(path) is null)
        {
            LogUnusableKeys(app.Logger, path);
        }

        return app;
    }

    /// <summary>Says at every start, loudly, when the switching port takes clients without certificates.</summary>
    public static WebApplication WarnWhenTheSwitchingPortIsInsecure(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var switching = app.Services.GetRequiredService<IOptions<SwitchingOptions>>().Value;
        if (switching.AllowInsecure)
        {
            LogInsecureSwitching(app.Logger, switching.AllowInsecureOnNetwork ? "on the network (Switching:AllowInsecureOnNetwork)" : "on loopback only");
        }

        return app;
    }

    [LoggerMessage(EventId = 82, Level = LogLevel.Critical, Message = "Switching:AllowInsecure is set: the switching port takes switches and lookups WITHOUT client certificates, {Where}; anyone who reaches it receives callback commands with both parties' numbers. For a laptop, the demo and tests only")]
    private static partial void LogInsecureSwitching(ILogger logger, string where);

    /// <summary>The switching endpoint's address as configured (null when the service serves no switching port).</summary>
    private static Microsoft.AspNetCore.Http.BindingAddress? SwitchingEndpoint(IConfiguration configuration) =>
        configuration[$"Kestrel:Endpoints:{Listeners.Switching}:Url"] is { Length: > 0 } url ? Microsoft.AspNetCore.Http.BindingAddress.Parse(url) : null;

    [LoggerMessage(EventId = 80, Level = LogLevel.Warning, Message = "No HTTP API authentication is configured (HttpApi:Authentication:Jwt or :ClientCertificates): call records and opt-outs answer loopback callers only, and an opt-out can't be removed")]
    private static partial void LogUnauthenticated(ILogger logger);

    [LoggerMessage(EventId = 81, Level = LogLevel.Error, Message = "HttpApi:Authentication:Jwt:SigningKeysPath ({Path}) holds no PEM public key: every bearer token is refused")]
    private static partial void LogUnusableKeys(ILogger logger, string path);

    /// <summary>The keys of the file, or null when it holds none usable (fail closed: no token is taken then).</summary>
    private static List<SecurityKey>? UsableKeys(string path)
    {
        try
        {
            return SigningKeys(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or FormatException or CryptographicException or ArgumentException)
        {
            return null;
        }
    }

    private static void ConfigureJwt(JwtBearerOptions o, ApiAccessOptions.JwtBearerSettings jwt)
    {
        // Claims keep their JWT names (sub, scope), not the WS-Federation URIs.
        o.MapInboundClaims = false;
        o.TokenValidationParameters.NameClaimType = "sub";
        o.TokenValidationParameters.ValidAudience = jwt.Audience;
        o.TokenValidationParameters.ValidateAudience = true;
        o.TokenValidationParameters.ValidateIssuer = true;
        o.TokenValidationParameters.ValidateLifetime = true;
        o.TokenValidationParameters.RequireExpirationTime = true;
        o.TokenValidationParameters.ClockSkew = TimeSpan.FromSeconds(30);
        if (!string.IsNullOrWhiteSpace(jwt.Issuer))
        {
            o.TokenValidationParameters.ValidIssuer = jwt.Issuer;
        }

        if (!string.IsNullOrWhiteSpace(jwt.Authority))
        {
            o.Authority = jwt.Authority;
            o.RequireHttpsMetadata = jwt.RequireHttpsMetadata;
        }
        else if (!string.IsNullOrWhiteSpace(jwt.SigningKeysPath) && File.Exists(jwt.SigningKeysPath))
        {
            o.TokenValidationParameters.IssuerSigningKeys = UsableKeys(jwt.SigningKeysPath) ?? [];
        }
        else
        {
            // Not configured: no key can sign a token we take (and the endpoints serve loopback callers only).
            o.TokenValidationParameters.IssuerSigningKeys = [];
        }
    }

    /// <summary>Every public key in a PEM file (SubjectPublicKeyInfo, RSA or EC), for key rotation.</summary>
    internal static List<SecurityKey> SigningKeys(string pem)
    {
        var keys = new List<SecurityKey>();
        var rest = pem.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            // The ranges are of the text searched, so the key is read before moving on.
            var spki = Convert.FromBase64String(rest.Span[fields.Base64Data].ToString());
            rest = rest[fields.Location.End..];
            try
            {
                var rsa = RSA.Create();
                rsa.ImportSubjectPublicKeyInfo(spki, out _);
                keys.Add(new RsaSecurityKey(rsa));
            }
            catch (CryptographicException)
            {
                var ec = ECDsa.Create();
                ec.ImportSubjectPublicKeyInfo(spki, out _);
                keys.Add(new ECDsaSecurityKey(ec));
            }
        }

        return keys.Count > 0 ? keys : throw new InvalidOperationException("The JWT signing keys file holds no PEM public key.");
    }

    private static void ConfigureCertificates(CertificateAuthenticationOptions o, ApiAccessOptions.ClientCertificateSettings settings, CertificatePolicies policies)
    {
        o.AllowedCertificateTypes = CertificateTypes.Chained;
        o.ChainTrustValidationMode = X509ChainTrustMode.CustomRootTrust;
        o.RevocationMode = X509RevocationMode.NoCheck;
        o.ValidateCertificateUse = true;
        if (settings.AuthorityPath is { } path && File.Exists(path))
        {
            o.CustomTrustStore.ImportFromPemFile(path);
        }

        o.Events = new CertificateAuthenticationEvents
        {
            OnCertificateValidated = context =>
            {
                var name = ClientCertificatePolicy.SubjectCommonName(context.ClientCertificate);
                if (policies.ApiClients?.Refusal(context.ClientCertificate) is not null || name is null || !settings.Clients.TryGetValue(name, out var scopes))
                {
                    context.Fail("This client certificate is not one of the configured API clients.");
                    return Task.CompletedTask;
                }

                context.Principal = new ClaimsPrincipal(new ClaimsIdentity(
                    [new Claim("sub", "cert:" + name), new Claim("scope", scopes)],
                    CertificateAuthenticationDefaults.AuthenticationScheme, "sub", null));
                context.Success();
                return Task.CompletedTask;
            },
        };
    }

    /// <summary>The two client-certificate policies, read once: switches on the switching port, API clients on the HTTP port.</summary>
    internal sealed class CertificatePolicies(IOptions<SwitchingOptions> switching, IOptions<ApiAccessOptions> access)
    {
        public ClientCertificatePolicy? Switches { get; } =
            !switching.Value.AllowInsecure && switching.Value.ClientCertificateAuthorityPath is { } ca && File.Exists(ca)
                ? new ClientCertificatePolicy(ca, switching.Value.ClientCertificateRevocationListPath)
                : null;

        public ClientCertificatePolicy? ApiClients { get; } =
            access.Value.ClientCertificates.AuthorityPath is { } ca2 && File.Exists(ca2)
                ? new ClientCertificatePolicy(ca2, access.Value.ClientCertificates.RevocationListPath)
                : null;
    }
}
