using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>A switch CA, a server certificate, switch client certificates and a rogue CA's certificate, as PEM files.</summary>
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
    }

    public string AuthorityPath { get; }

    public string ServerCertificatePath { get; }

    public string ServerKeyPath { get; }

    public string SwitchACertificatePath { get; }

    public string SwitchAKeyPath { get; }

    public string SwitchBCertificatePath { get; }

    public string SwitchBKeyPath { get; }

    /// <summary>Names switch-a, but is signed by another CA.</summary>
    public string RogueCertificatePath { get; }

    public string RogueKeyPath { get; }

    /// <summary>The service settings for a TLS switch endpoint that requires switch client certificates.</summary>
    public void ApplyTo(Dictionary<string, string?> settings)
    {
        settings["Kestrel:Endpoints:Switching:Certificate:Path"] = ServerCertificatePath;
        settings["Kestrel:Endpoints:Switching:Certificate:KeyPath"] = ServerKeyPath;
        settings["Switching:RequireClientCertificate"] = "true";
        settings["Switching:ClientCertificateAuthorityPath"] = AuthorityPath;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string commonName, bool server)
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

        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        return issued.CopyWithPrivateKey(key);
    }

    private (string Certificate, string Key) WriteIssued(string name, X509Certificate2 authority, string commonName, bool server)
    {
        using var issued = Issue(authority, commonName, server);
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
