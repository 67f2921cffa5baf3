using Microsoft.Extensions.Options;
using CallRecovery.Policy;

namespace CallRecovery.Tests.Policy;

public class SwitchRouterTests
{
    private static readonly DateTimeOffset Dropped = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    private static SwitchRouter Router(TimeSpan? vulnerableDeadline = null) => new(Options.Create(new SwitchingOptions
    {
        DefaultSwitch = "switch-default",
        Routes = { ["msc-lon-1"] = "switch-lon" },
        GracePeriod = TimeSpan.FromSeconds(20),
        CallbackDeadline = TimeSpan.FromMinutes(5),
        Announcement = { DefaultLanguage = "en", Languages = { ["+44"] = "en-GB", ["+4428"] = "ga-IE" } },
    }), Options.Create(new RecoveryPolicyOptions { VulnerableDeadline = vulnerableDeadline }));

    [Fact]
    public void The_switching_node_picks_the_switch_and_unknown_nodes_go_to_the_default()
    {
        Assert.Equal("switch-lon", Router().Plan("msc-lon-1", Dropped).SwitchId);
        Assert.Equal("switch-default", Router().Plan("msc-elsewhere", Dropped).SwitchId);
    }

    [Fact]
    public void The_callback_is_due_after_the_grace_period_and_void_after_the_deadline()
    {
        var plan = Router().Plan("msc-lon-1", Dropped);
        Assert.Equal(Dropped.AddSeconds(20), plan.DueAt);
        Assert.Equal(Dropped.AddMinutes(5), plan.Deadline);
    }

    [Fact]
    public void A_vulnerable_customer_gets_the_vulnerable_deadline_only_when_it_is_longer()
    {
        Assert.Equal(Dropped.AddMinutes(30), Router(TimeSpan.FromMinutes(30)).Plan("msc-lon-1", Dropped, vulnerable: true).Deadline);
        Assert.Equal(Dropped.AddMinutes(5), Router(TimeSpan.FromMinutes(30)).Plan("msc-lon-1", Dropped).Deadline);
        Assert.Equal(Dropped.AddMinutes(5), Router(TimeSpan.FromMinutes(2)).Plan("msc-lon-1", Dropped, vulnerable: true).Deadline);
        Assert.Equal(Dropped.AddMinutes(5), Router().Plan("msc-lon-1", Dropped, vulnerable: true).Deadline);
    }

    [Theory]
    [InlineData("+447700900123", "en-GB")]
    [InlineData("+442890123456", "ga-IE")]
    [InlineData("+33612345678", "en")]
    public void The_longest_matching_prefix_chooses_the_announcement_language(string customer, string language) =>
        Assert.Equal(language, Router().LanguageFor(customer));
}
