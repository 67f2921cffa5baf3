using CallRecovery.Redis;

namespace CallRecovery.Tests.Redis;

public sealed class RedisKeysTests
{
    private const string Number = "+447700900123";
    private const string Other = "+447700900456";

    [Fact]
    public void Without_a_secret_a_subscribers_keys_carry_the_number_in_their_hash_tag()
    {
        var keys = new RedisKeys("cr");
        Assert.Equal("cr:{s:+447700900123}:optout", keys.OptOut(Number).ToString());
    }

    [Fact]
    public void With_a_secret_no_key_names_the_subscriber_and_the_same_number_always_finds_the_same_slot()
    {
        var keys = new RedisKeys("cr", "a-secret-of-at-least-thirty-two-characters");
        var all = new[] { keys.OptOut(Number), keys.OptOutAudit(Number), keys.EmergencyProtection(Number), keys.SubscriberRecoveries(Number), keys.SubscriberCalls(Number), keys.PartyPair(Number, Other), keys.PartyPairConnections(Other, Number) }
            .Select(k => k.ToString()).ToList();
        Assert.All(all, k => Assert.DoesNotContain("7700900", k, StringComparison.Ordinal));
        // One subscriber's keys share a hash tag (one Redis Cluster slot); a party pair is the same either way round.
        Assert.Single(all.Take(5).Select(k => k[k.IndexOf('{', StringComparison.Ordinal)..(k.IndexOf('}', StringComparison.Ordinal) + 1)]).Distinct());
        Assert.Equal(keys.PartyPair(Number, Other), keys.PartyPair(Other, Number));
        Assert.Equal(keys.OptOut(Number), new RedisKeys("cr", "a-secret-of-at-least-thirty-two-characters").OptOut(Number));
        Assert.NotEqual(keys.OptOut(Number), new RedisKeys("cr", "another-secret-of-at-least-thirty-two-chars").OptOut(Number));
    }
}
