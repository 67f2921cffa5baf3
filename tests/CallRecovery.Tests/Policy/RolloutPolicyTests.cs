using CallRecovery.Policy;
using Microsoft.Extensions.Options;

namespace CallRecovery.Tests.Policy;

public class RolloutPolicyTests
{
    [Fact]
    public void Live_without_a_canary_calls_everyone_and_shadow_mode_no_one()
    {
        Assert.False(Policy(new RolloutOptions()).IsShadow("msc-1", "234-15-1a2b-0c", "+447700900123"));
        Assert.True(Policy(new RolloutOptions { Mode = RolloutMode.Shadow }).IsShadow("msc-1", "234-15-1a2b-0c", "+447700900123"));
    }

    [Fact]
    public void A_canary_goes_live_for_any_criterion_it_meets()
    {
        var rollout = Policy(new RolloutOptions { Canary = new CanaryOptions { SwitchingNodes = ["msc-canary"], CellPrefixes = ["234-15-1A2B"] } });
        Assert.False(rollout.IsShadow("msc-canary", "234-20-0000-01", "+447700900123"));
        Assert.False(rollout.IsShadow("msc-other", "234-15-1a2b-0c", "+447700900123"));
        Assert.True(rollout.IsShadow("msc-other", "234-15-9999-0c", "+447700900123"));
        Assert.True(rollout.IsShadow("msc-other", string.Empty, "+447700900123"));
    }

    [Fact]
    public void A_percentage_selects_the_same_customers_every_time_and_about_that_share_of_them()
    {
        var numbers = Enumerable.Range(0, 20_000).Select(i => $"+4477009{i:00000}").ToList();
        var rollout = Policy(new RolloutOptions { Canary = new CanaryOptions { Percent = 10 } });
        var live = numbers.Where(n => !rollout.IsShadow("msc-1", "cell", n)).ToList();
        Assert.InRange(live.Count, 1_700, 2_300);
        Assert.Equal(live, numbers.Where(n => !rollout.IsShadow("msc-1", "cell", n)));

        // Widening the canary keeps everyone who was in it.
        var wider = Policy(new RolloutOptions { Canary = new CanaryOptions { Percent = 50 } });
        Assert.All(live, n => Assert.False(wider.IsShadow("msc-1", "cell", n)));
    }

    private static RolloutPolicy Policy(RolloutOptions options) => new(new Fixed(options));

    private sealed class Fixed(RolloutOptions value) : IOptionsMonitor<RolloutOptions>
    {
        public RolloutOptions CurrentValue => value;

        public RolloutOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<RolloutOptions, string?> listener) => null;
    }
}
