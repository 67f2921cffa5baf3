using System.Security.Claims;
using System.Security.Cryptography;
using CallRecovery.Security;

namespace CallRecovery.Tests.Security;

public sealed class ApiScopesTests
{
    [Theory]
    [InlineData("scope", "openid calls:read", "calls:read", true)]
    [InlineData("scp", "calls:read", "calls:read", true)]
    [InlineData("scope", "calls:readx optout", "calls:read", false)]
    [InlineData("scope", "", "calls:read", false)]
    [InlineData("roles", "calls:read", "calls:read", false)]
    public void A_scope_is_held_only_as_a_whole_word_of_the_scope_claim(string type, string value, string scope, bool holds)
    {
        var user = new ClaimsPrincipal(new ClaimsIdentity([new Claim(type, value)], "test"));
        Assert.Equal(holds, ApiScopes.Holds(user, scope));
    }

    [Fact]
    public void An_anonymous_caller_holds_no_scope_whatever_its_claims()
    {
        var user = new ClaimsPrincipal(new ClaimsIdentity([new Claim("scope", "calls:read")]));
        Assert.False(ApiScopes.Holds(user, "calls:read"));
    }

    [Fact]
    public void Every_RSA_and_EC_public_key_of_a_PEM_file_is_a_signing_key()
    {
        using var rsa = RSA.Create(2048);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var keys = SecurityServiceCollectionExtensions.SigningKeys(rsa.ExportSubjectPublicKeyInfoPem() + "\n" + ec.ExportSubjectPublicKeyInfoPem());
        Assert.Equal(2, keys.Count);
        Assert.Throws<InvalidOperationException>(() => SecurityServiceCollectionExtensions.SigningKeys("not a key"));
    }
}
