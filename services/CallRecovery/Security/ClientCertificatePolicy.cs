using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CallRecovery.Contracts;
using Org.BouncyCastle.X509;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace CallRecovery.Security;

/// <summary>
/// What a client certificate must be to be let in: issued by the configured CA, carrying the client-authentication
/// extended key usage, and, when a CRL file is configured, not revoked by it. Who the client is: for an API client,
/// the subject's single common name (CN); for a switch or lookup client, its DNS subject alternative names, or its
/// single CN when it has none (<see cref="Identities"/>). One rule each, so two readers never disagree about whose it is.
/// </summary>
public sealed class ClientCertificatePolicy
{
    /// <summary>The client-authentication extended key usage (RFC 5280, id-kp-clientAuth).</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private const string CommonName = "2.5.4.3";

    private const string SubjectAlternativeName = "2.5.29.17";

    private readonly PrivateCertificateAuthority _authority;
    private readonly X509Certificate2Collection _authorityCertificates = [];
    private readonly string? _crlPath;
    private readonly Lock _crlLock = new();
    private RevocationList? _crl;

    /// <param name="authorityPath">PEM file of the issuing CA certificate(s).</param>
    /// <param name="crlPath">Optional CRL file (PEM or DER) of that CA; re-read when it changes on disk, as a mounted Secret does.</param>
    public ClientCertificatePolicy(string authorityPath, string? crlPath)
    {
        _authority = new PrivateCertificateAuthority(authorityPath);
        _authorityCertificates.ImportFromPemFile(authorityPath);
        _crlPath = string.IsNullOrWhiteSpace(crlPath) ? null : crlPath;
        if (_crlPath is not null)
        {
            // A configured CRL that can't be read or isn't the CA's is a configuration error: fail at start.
            _crl = RevocationList.Load(_crlPath, _authorityCertificates);
        }
    }

    /// <summary>Why a certificate is refused, or null when it is let in.</summary>
    public string? Refusal(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!_authority.Issued(certificate))
        {
            return "not issued by the configured CA";
        }

        if (!HasClientAuthentication(certificate))
        {
            return "no client-authentication extended key usage";
        }

        if (CurrentRevocationList() is { } crl && crl.Revokes(certificate))
        {
            return "revoked";
        }

        return Identities(certificate).Count == 0 ? "the certificate names no one (no DNS subject alternative name, no single subject common name)" : null;
    }

    /// <summary>The client's name: the subject's one CN, or null when there is none or more than one.</summary>
    public static string? SubjectCommonName(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        string? name = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.GetSingleElementType().Value != CommonName)
            {
                continue;
            }

            if (name is not null)
            {
                return null;
            }

            name = rdn.GetSingleElementValue();
        }

        return string.IsNullOrEmpty(name) ? null : name;
    }

    /// <summary>
    /// Who a switch certificate speaks for: each DNS name of its subject alternative names, or, when it has none, its
    /// one subject common name (Switching:CertificateSwitches maps an identity to other switch ids).
    /// </summary>
    public static IReadOnlyList<string> Identities(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var names = certificate.Extensions.Cast<X509Extension>()
            .Where(e => e.Oid?.Value == SubjectAlternativeName)
            .SelectMany(e => (e as X509SubjectAlternativeNameExtension ?? new X509SubjectAlternativeNameExtension(e.RawData, e.Critical)).EnumerateDnsNames())
            .Where(n => !string.IsNullOrEmpty(n))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        return names.Count > 0 ? names : SubjectCommonName(certificate) is { } name ? [name] : [];
    }

    private static bool HasClientAuthentication(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>()
            .Any(eku => eku.EnhancedKeyUsages.Cast<Oid>().Any(oid => oid.Value == ClientAuthentication));

    private RevocationList? CurrentRevocationList()
    {
        if (_crlPath is null)
        {
            return null;
        }

        lock (_crlLock)
        {
            if (_crl is null || File.GetLastWriteTimeUtc(_crlPath) != _crl.ReadAt)
            {
                try
                {
                    _crl = RevocationList.Load(_crlPath, _authorityCertificates);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or Org.BouncyCastle.Security.GeneralSecurityException or ArgumentException)
                {
                    // A half-written or bad replacement keeps the last good list: revocations already known stay in force.
                }
            }

            return _crl;
        }
    }

    /// <summary>A CRL read from disk whose signature was checked against the CA.</summary>
    private sealed class RevocationList(X509Crl crl, DateTime readAt)
    {
        public DateTime ReadAt { get; } = readAt;

        public bool Revokes(X509Certificate2 certificate) => crl.IsRevoked(new BcCertificate(certificate.RawData));

        public static RevocationList Load(string path, X509Certificate2Collection authorities)
        {
            var readAt = File.GetLastWriteTimeUtc(path);
            var crl = new X509CrlParser().ReadCrl(File.ReadAllBytes(path))
                ?? throw new InvalidOperationException($"'{path}' holds no certificate revocation list.");
            foreach (var authority in authorities)
            {
                try
                {
                    crl.Verify(new BcCertificate(authority.RawData).GetPublicKey());
                    return new RevocationList(crl, readAt);
                }
                catch (Exception e) when (e is Org.BouncyCastle.Security.GeneralSecurityException or ArgumentException or InvalidCastException)
                {
                    // Not this CA's signature (or another key type): try the next CA certificate.
                }
            }

            throw new InvalidOperationException($"The revocation list '{path}' is not signed by the configured CA.");
        }
    }
}
