using CallRecovery.Decisions;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using CallRecovery.Subscribers;

namespace CallRecovery.Tests.Redis;

public sealed class RedisKeysTests
{
    private const string Number = "+447700900123";
    private const string Other = "+447700900456";
    private const string Secret = "a-secret-of-at-least-thirty-two-characters";

    [Fact]
    public void Without_a_secret_a_subscribers_keys_carry_the_number_in_their_hash_tag()
    {
        Assert.Equal("cr:{s:+447700900123}:optout", new SubscriberKeys(new RedisKeys("cr")).OptOut(Number).ToString());
    }

    [Fact]
    public void With_a_secret_no_key_names_the_subscriber_and_the_same_number_always_finds_the_same_slot()
    {
        var keys = new RedisKeys("cr", Secret);
        var (subscribers, decisions, recoveries) = (new SubscriberKeys(keys), new DecisionKeys(keys), new RecoveryKeys(keys));
        var all = new[]
        {
            subscribers.OptOut(Number), subscribers.OptOutAudit(Number), subscribers.EmergencyProtection(Number), decisions.SubscriberWindow(Number), subscribers.Calls(Number),
            subscribers.Reachable(Number), recoveries.PartyRecoveries(Number), subscribers.PairConnections(Other, Number),
        }.Select(k => k.ToString()).ToList();
        Assert.All(all, k => Assert.DoesNotContain("7700900", k, StringComparison.Ordinal));
        // One subscriber's keys share a hash tag (one Redis Cluster slot), whichever folder owns them; a party pair is the same either way round.
        Assert.Single(all.Take(7).Select(k => k[k.IndexOf('{', StringComparison.Ordinal)..(k.IndexOf('}', StringComparison.Ordinal) + 1)]).Distinct());
        Assert.Equal(subscribers.PairConnections(Number, Other), subscribers.PairConnections(Other, Number));
        Assert.Equal(subscribers.OptOut(Number), new SubscriberKeys(new RedisKeys("cr", Secret)).OptOut(Number));
        Assert.NotEqual(subscribers.OptOut(Number), new SubscriberKeys(new RedisKeys("cr", "another-secret-of-at-least-thirty-two-chars")).OptOut(Number));
    }
}
