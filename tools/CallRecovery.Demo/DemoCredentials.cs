using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CallRecovery.Demo;

/// <summary>
/// The demo's own identity provider, in miniature: a signing key made for this run, the service configured to
/// trust it, and one operator token with every API scope, written to a file for curl.
/// </summary>
public sealed class DemoCredentials : IDisposable
{
    public const string Issuer = "https://demo-idp.callrecovery.local";

    private readonly RSA _key = RSA.Create(2048);

    public DemoCredentials(string directory)
    {
        SigningKeysPath = Path.Combine(directory, "jwt-signing-keys.pem");
        File.WriteAllText(SigningKeysPath, _key.ExportSubjectPublicKeyInfoPem());
        TokenPath = Path.Combine(directory, "operator.token");
        var now = DateTime.UtcNow;
        File.WriteAllText(TokenPath, new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = "callrecovery",
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(12),
            Claims = new Dictionary<string, object> { ["sub"] = "demo-operator", ["scope"] = "calls:read subscribers:read optout:write rollout:read rollout:write" },
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(_key), SecurityAlgorithms.RsaSha256),
        }));
    }

    public string SigningKeysPath { get; }

    /// <summary>A bearer token (sub demo-operator; calls:read subscribers:read optout:write rollout:read rollout:write; 12 hours).</summary>
    public string TokenPath { get; }

    /// <summary>The service settings that make it take this run's tokens.</summary>
    public void ApplyTo(IDictionary<string, string> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings["HttpApi:Authentication:Jwt:SigningKeysPath"] = SigningKeysPath;
        settings["HttpApi:Authentication:Jwt:Issuer"] = Issuer;
        settings["HttpApi:Authentication:Jwt:Audience"] = "callrecovery";
    }

    public void Dispose() => _key.Dispose();
}
