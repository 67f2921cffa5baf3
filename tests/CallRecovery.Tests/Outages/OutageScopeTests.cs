using System.Security.Cryptography;
using System.Text;
using CallRecovery.Outages;
using CsCheck;

namespace CallRecovery.Tests.Outages;

/// <summary>
/// A scope's id names its keys in Redis and starts its incidents' ids: replicas of different versions count the same
/// cell's drops in the same window and end each other's incidents only while every version spells it the same way.
/// </summary>
public class OutageScopeTests
{
    [Theory]
    [InlineData(OutageScope.Cell, "310-260-1234-5678", "cell-af7640e5dcc29aac")]
    [InlineData(OutageScope.Node, "msc-london-1", "node-bc7f90df3fc0b01e")]
    [InlineData(OutageScope.Cell, "Zelle Ü-Straße 7 📶", "cell-d7ad0a6b7e21f7c1")]
    public void A_scope_id_is_its_kind_and_the_first_eight_bytes_of_its_sha256_in_hex(string kind, string name, string id) =>
        Assert.Equal(id, new OutageScope(kind, name).Id);

    [Fact]
    public void Any_name_short_or_long_gets_the_id_the_stored_keys_were_named_by() =>
        Gen.Select(Gen.Bool.Select(cell => cell ? OutageScope.Cell : OutageScope.Node), Gen.OneOf(Gen.String, Gen.String[0, 40], Gen.Char.Array[300, 1200].Select(c => new string(c))))
            .Sample(s => Assert.Equal(Reference(s.Item1, s.Item2), new OutageScope(s.Item1, s.Item2).Id), iter: 500);

    /// <summary>The definition, as every earlier version computed it.</summary>
    private static string Reference(string kind, string name) =>
        $"{kind}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(kind + "|" + name)).AsSpan(0, 8))}";
}
