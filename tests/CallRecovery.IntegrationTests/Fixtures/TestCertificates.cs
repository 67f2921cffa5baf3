using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// A switch CA, a server certificate, switch client certificates (genuine, from a rogue CA, without the
/// client-authentication usage, revoked, with its CRL), an API client CA with a CRM certificate, and a JWT
/// signing key pair with a token minter, as files.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("callrecovery-certs-").FullName;

    public TestCertificates()
    {
        using var ca = CreateAuthority("CallRecovery switch CA");
        using var rogue = CreateAuthority("Someone else's CA");
        AuthorityPath = WritePem("ca", ca, withKey: false).Certificate;
        (ServerCertificatePath, ServerKeyPath) = WriteIssued("server", ca, "localhost", server: true);
        (SwitchACertificatePath, SwitchAKeyPath) = WriteIssued("switch-a", ca, "switch-a", server: false);
        (SwitchBCertificatePath, SwitchBKeyPath) = WriteIssued("switch-b", ca, "switch-b", server: false);
        (RogueCertificatePath, RogueKeyPath) = WriteIssued("rogue-switch-a", rogue, "switch-a", server: false);
        (LookupCertificatePath, LookupKeyPath) = WriteIssued("lookup", ca, "callrecovery-lookup", server: false);
        (NorthCertificatePath, NorthKeyPath) = WriteIssued("msc-north", ca, "msc-north", server: false, dnsNames: ["msc-north.operator.net"]);
        (NoClientUsageCertificatePath, NoClientUsageKeyPath) = WriteIssued("server-usage-switch-a", ca, "switch-a", server: true);
        using (var revoked = Issue(ca, "switch-a", server: false))
        {
            (RevokedCertificatePath, RevokedKeyPath) = WritePem("revoked-switch-a", revoked, withKey: true);
            var crl = new CertificateRevocationListBuilder();
            crl.AddEntry(revoked, DateTimeOffset.UtcNow.AddMinutes(-5), X509RevocationReason.KeyCompromise);
            RevocationListPath = Path.Combine(_directory, "switch-ca.crl");
            File.WriteAllText(RevocationListPath, PemEncoding.WriteString("X509 CRL", crl.Build(ca, 1, DateTimeOffset.UtcNow.AddDays(7), HashAlgorithmName.SHA256)));
        }

        using var apiCa = CreateAuthority("CallRecovery API client CA");
        ApiAuthorityPath = WritePem("api-ca", apiCa, withKey: false).Certificate;
        (CrmCertificatePath, CrmKeyPath) = WriteIssued("crm-gateway", apiCa, "crm-gateway", server: false);
        (UnlistedApiClientCertificatePath, UnlistedApiClientKeyPath) = WriteIssued("unlisted", apiCa, "someone-unlisted", server: false);

        JwtIssuer = "https://idp.test.callrecovery";
        JwtSigningKeysPath = Path.Combine(_directory, "jwt-signing.pem");
        File.WriteAllText(JwtSigningKeysPath, _jwtKey.ExportSubjectPublicKeyInfoPem());
    }

    private readonly RSA _jwtKey = RSA.Create(2048);
    private readonly RSA _otherJwtKey = RSA.Create(2048);

    /// <summary>switch-a from the switch CA, but with only the server-authentication usage.</summary>
    public string NoClientUsageCertificatePath { get; }

    public string NoClientUsageKeyPath { get; }

    /// <summary>switch-a from the switch CA, listed in <see cref="RevocationListPath"/>.</summary>
    public string RevokedCertificatePath { get; }

    public string RevokedKeyPath { get; }

    /// <summary>The switch CA's CRL (PEM), revoking <see cref="RevokedCertificatePath"/>.</summary>
    public string RevocationListPath { get; }

    public string ApiAuthorityPath { get; }

    /// <summary>CN=crm-gateway from the API client CA.</summary>
    public string CrmCertificatePath { get; }

    public string CrmKeyPath { get; }

    /// <summary>From the API client CA, but a CN no setting grants anything.</summary>
    public string UnlistedApiClientCertificatePath { get; }

    public string UnlistedApiClientKeyPath { get; }

    public string JwtIssuer { get; }

    public string JwtSigningKeysPath { get; }

    /// <summary>An HTTP client of the service's API carrying a token of <paramref name="subject"/> with <paramref name="scopes"/>.</summary>
    public HttpClient Client(ServiceHost service, string subject, string scopes)
    {
        ArgumentNullException.ThrowIfNull(service);
        var http = service.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token(subject, scopes));
        return http;
    }

    /// <summary>A token for the service's API, signed with the configured key (or another one), valid for an hour unless told.</summary>
    public string Token(string subject, string scopes, string audience = "callrecovery", bool otherKey = false, TimeSpan? expiresIn = null, string? issuer = null)
    {
        var now = DateTime.UtcNow;
        var expires = now + (expiresIn ?? TimeSpan.FromHours(1));
        return new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            Issuer = issuer ?? JwtIssuer,
            Audience = audience,
            IssuedAt = expires < now ? expires.AddMinutes(-10) : now,
            NotBefore = expires < now ? expires.AddMinutes(-10) : now,
            Expires = expires,
            Claims = new Dictionary<string, object> { ["sub"] = subject, ["scope"] = scopes },
            SigningCredentials = new Microsoft.IdentityModel.Tokens.SigningCredentials(
                new Microsoft.IdentityModel.Tokens.RsaSecurityKey(otherKey ? _otherJwtKey : _jwtKey), Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSha256),
        });
    }

    /// <summary>The service settings for JWT bearer tokens signed with this fixture's key.</summary>
    public void ApplyJwtTo(Dictionary<string, string?> settings)
    {
        settings["HttpApi:Authentication:Jwt:SigningKeysPath"] = JwtSigningKeysPath;
        settings["HttpApi:Authentication:Jwt:Issuer"] = JwtIssuer;
        settings["HttpApi:Authentication:Jwt:Audience"] = "callrecovery";
    }

    /// <summary>The service settings for an HTTPS API port taking API client certificates; crm-gateway may read and change opt-outs.</summary>
    public void ApplyApiClientCertificatesTo(Dictionary<string, string?> settings)
    {
        settings["Kestrel:Endpoints:Http:Certificate:Path"] = ServerCertificatePath;
        settings["Kestrel:Endpoints:Http:Certificate:KeyPath"] = ServerKeyPath;
        settings["HttpApi:Authentication:ClientCertificates:AuthorityPath"] = ApiAuthorityPath;
        settings["HttpApi:Authentication:ClientCertificates:Clients:crm-gateway"] = "subscribers:read optout:write";
    }

    public string AuthorityPath { get; }

    public string ServerCertificatePath { get; }

    public string ServerKeyPath { get; }

    public string SwitchACertificatePath { get; }

    public string SwitchAKeyPath { get; }

    public string SwitchBCertificatePath { get; }

    public string SwitchBKeyPath { get; }

    /// <summary>The lookup tool's client certificate (CN callrecovery-lookup), from the switch CA.</summary>
    public string LookupCertificatePath { get; }

    public string LookupKeyPath { get; }

    /// <summary>A switch certificate naming a host, not a switch id: DNS subject alternative name msc-north.operator.net, CN msc-north.</summary>
    public string NorthCertificatePath { get; }

    public string NorthKeyPath { get; }

    /// <summary>Names switch-a, but is signed by another CA.</summary>
    public string RogueCertificatePath { get; }

    public string RogueKeyPath { get; }

    /// <summary>The service settings for a TLS switch endpoint that requires switch client certificates.</summary>
    public void ApplyTo(Dictionary<string, string?> settings)
    {
        settings["Kestrel:Endpoints:Switching:Certificate:Path"] = ServerCertificatePath;
        settings["Kestrel:Endpoints:Switching:Certificate:KeyPath"] = ServerKeyPath;
        settings["Switching:ClientCertificateAuthorityPath"] = AuthorityPath;
    }

    public void Dispose()
    {
        _jwtKey.Dispose();
        _otherJwtKey.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string commonName, bool server, string[]? dnsNames = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }
        else if (dnsNames is { Length: > 0 })
        {
            var names = new SubjectAlternativeNameBuilder();
            foreach (var name in dnsNames)
            {
                names.AddDnsName(name);
            }

            request.CertificateExtensions.Add(names.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        return issued.CopyWithPrivateKey(key);
    }

    private (string Certificate, string Key) WriteIssued(string name, X509Certificate2 authority, string commonName, bool server, string[]? dnsNames = null)
    {
        using var issued = Issue(authority, commonName, server, dnsNames);
        return WritePem(name, issued, withKey: true);
    }

    private (string Certificate, string Key) WritePem(string name, X509Certificate2 certificate, bool withKey)
    {
        var certificatePath = Path.Combine(_directory, name + ".pem");
        var keyPath = Path.Combine(_directory, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        if (withKey)
        {
            File.WriteAllText(keyPath, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        }

        return (certificatePath, keyPath);
    }
}
