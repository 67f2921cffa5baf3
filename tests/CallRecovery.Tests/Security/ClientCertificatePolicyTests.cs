using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CallRecovery.Security;

namespace CallRecovery.Tests.Security;

/// <summary>What a client certificate must be: the CA's, for client authentication, not revoked, with one CN that names the client.</summary>
public sealed class ClientCertificatePolicyTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("callrecovery-policy-").FullName;
    private readonly X509Certificate2 _ca = Authority("Switch CA");
    private readonly X509Certificate2 _otherCa = Authority("Other CA");

    [Fact]
    public void A_client_certificate_of_the_CA_with_one_CN_is_let_in_and_named_by_that_CN()
    {
        using var certificate = Issue(_ca, "CN=switch-lon, O=Operator", "1.3.6.1.5.5.7.3.2");
        var policy = new ClientCertificatePolicy(WriteCa(), crlPath: null);
        Assert.Null(policy.Refusal(certificate));
        Assert.Equal("switch-lon", ClientCertificatePolicy.SubjectCommonName(certificate));
    }

    [Theory]
    [InlineData("CN=switch-lon", "1.3.6.1.5.5.7.3.1", "no client-authentication extended key usage")]
    [InlineData("CN=switch-lon", null, "no client-authentication extended key usage")]
    [InlineData("O=Operator", "1.3.6.1.5.5.7.3.2", "the certificate names no one (no DNS subject alternative name, no single subject common name)")]
    [InlineData("CN=switch-lon, CN=switch-man", "1.3.6.1.5.5.7.3.2", "the certificate names no one (no DNS subject alternative name, no single subject common name)")]
    public void A_certificate_without_client_usage_or_a_single_CN_is_refused(string subject, string? usage, string reason)
    {
        using var certificate = Issue(_ca, subject, usage);
        Assert.Equal(reason, new ClientCertificatePolicy(WriteCa(), crlPath: null).Refusal(certificate));
    }

    [Fact]
    public void A_certificate_of_another_CA_is_refused()
    {
        using var certificate = Issue(_otherCa, "CN=switch-lon", "1.3.6.1.5.5.7.3.2");
        Assert.Equal("not issued by the configured CA", new ClientCertificatePolicy(WriteCa(), crlPath: null).Refusal(certificate));
    }

    [Fact]
    public void A_certificate_on_the_CRL_is_refused_and_a_replaced_CRL_is_read_again()
    {
        using var revoked = Issue(_ca, "CN=switch-lon", "1.3.6.1.5.5.7.3.2");
        using var later = Issue(_ca, "CN=switch-man", "1.3.6.1.5.5.7.3.2");
        var crlPath = Path.Combine(_directory, "ca.crl");
        WriteCrl(crlPath, _ca, 1, revoked);
        var policy = new ClientCertificatePolicy(WriteCa(), crlPath);
        Assert.Equal("revoked", policy.Refusal(revoked));
        Assert.Null(policy.Refusal(later));

        WriteCrl(crlPath, _ca, 2, revoked, later);
        File.SetLastWriteTimeUtc(crlPath, DateTime.UtcNow.AddSeconds(5));
        Assert.Equal("revoked", policy.Refusal(later));
    }

    [Fact]
    public void A_CRL_not_signed_by_the_CA_stops_the_start_and_a_bad_replacement_keeps_the_last_good_list()
    {
        using var revoked = Issue(_ca, "CN=switch-lon", "1.3.6.1.5.5.7.3.2");
        var forged = Path.Combine(_directory, "forged.crl");
        WriteCrl(forged, _otherCa, 1);
        Assert.Throws<InvalidOperationException>(() => new ClientCertificatePolicy(WriteCa(), forged));

        var crlPath = Path.Combine(_directory, "ca.crl");
        WriteCrl(crlPath, _ca, 1, revoked);
        var policy = new ClientCertificatePolicy(WriteCa(), crlPath);
        File.WriteAllText(crlPath, "half written");
        File.SetLastWriteTimeUtc(crlPath, DateTime.UtcNow.AddSeconds(5));
        Assert.Equal("revoked", policy.Refusal(revoked));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private string WriteCa()
    {
        var path = Path.Combine(_directory, "ca.pem");
        File.WriteAllText(path, _ca.ExportCertificatePem());
        return path;
    }

    private static void WriteCrl(string path, X509Certificate2 issuer, int number, params X509Certificate2[] revoked)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var certificate in revoked)
        {
            builder.AddEntry(certificate, DateTimeOffset.UtcNow.AddMinutes(-1));
        }

        File.WriteAllBytes(path, builder.Build(issuer, number, DateTimeOffset.UtcNow.AddDays(7), HashAlgorithmName.SHA256));
    }

    private static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string subject, string? usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (usage is not null)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        }

        return request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(12));
    }
}
