using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace CallRecovery.Contracts;

/// <summary>
/// Trust in one private CA instead of the machine's trust store: the service checks switch client
/// certificates with it, and the tools (switch emulator, lookup) check the service's certificate with it.
/// </summary>
public sealed class PrivateCertificateAuthority
{
    private readonly X509Certificate2Collection _authorities = [];

    /// <param name="pemPath">PEM file of the CA certificate(s).</param>
    public PrivateCertificateAuthority(string pemPath) => _authorities.ImportFromPemFile(pemPath);

    /// <summary>True when the certificate chains to this CA (revocation is not checked: private CAs here publish no CRL).</summary>
    public bool Issued(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>
    /// A client's TLS settings for the service's gRPC endpoint: the client certificate (mutual TLS) when
    /// given, and the service's certificate checked against this CA when one is given; the host name and
    /// everything else still checked as usual.
    /// </summary>
    public static void ConfigureClient(SslClientAuthenticationOptions ssl, string? certificatePath, string? keyPath, string? authorityPath)
    {
        ArgumentNullException.ThrowIfNull(ssl);
        if (certificatePath is not null)
        {
            ssl.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificatePath, keyPath)];
        }

        if (authorityPath is not null)
        {
            var authority = new PrivateCertificateAuthority(authorityPath);
            ssl.RemoteCertificateValidationCallback = (_, presented, _, errors) =>
                presented is not null
                && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                && authority.Issued(presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData()));
        }
    }
}
