namespace CallRecovery.Security;

/// <summary>
/// Who may use the HTTP API's personal-data endpoints (call records, opt-outs): JWT bearer tokens from the
/// operator's identity provider and, for service-to-service callers, client certificates from a configured CA.
/// With neither configured, those endpoints answer loopback callers only.
/// </summary>
public sealed class ApiAccessOptions
{
    public const string Section = "HttpApi:Authentication";

    public JwtBearerSettings Jwt { get; set; } = new();

    public ClientCertificateSettings ClientCertificates { get; set; } = new();

    public bool JwtConfigured => !string.IsNullOrWhiteSpace(Jwt.Authority) || !string.IsNullOrWhiteSpace(Jwt.SigningKeysPath);

    public bool ClientCertificatesConfigured => !string.IsNullOrWhiteSpace(ClientCertificates.AuthorityPath);

    public bool AnyConfigured => JwtConfigured || ClientCertificatesConfigured;

    public sealed class JwtBearerSettings
    {
        /// <summary>
        /// The identity provider (OpenID Connect discovery at {Authority}/.well-known/openid-configuration gives
        /// the issuer and signing keys, refreshed as it rotates them). Default none.
        /// </summary>
        public string? Authority { get; set; }

        /// <summary>Instead of an authority: PEM file of the public key(s) tokens are signed with (RSA or EC; several for rotation). Default none.</summary>
        public string? SigningKeysPath { get; set; }

        /// <summary>The token issuer (<c>iss</c>). Required with <see cref="SigningKeysPath"/>; with an authority it comes from discovery.</summary>
        public string? Issuer { get; set; }

        /// <summary>The audience (<c>aud</c>) tokens must be for. Default "callrecovery".</summary>
        public string Audience { get; set; } = "callrecovery";

        /// <summary>Discovery over HTTPS only. Default true; false only for a local test identity provider.</summary>
        public bool RequireHttpsMetadata { get; set; } = true;
    }

    public sealed class ClientCertificateSettings
    {
        /// <summary>PEM file of the CA that issues API client certificates (needs an HTTPS "Http" endpoint). Default none.</summary>
        public string? AuthorityPath { get; set; }

        /// <summary>Optional CRL file of that CA. Default none.</summary>
        public string? RevocationListPath { get; set; }

        /// <summary>Certificate subject CN → the scopes it is granted, space-separated (e.g. "crm-gateway": "subscribers:read optout:write").</summary>
        public Dictionary<string, string> Clients { get; set; } = new(StringComparer.Ordinal);
    }
}
