using CallRecovery.Policy;
using CallRecovery.SwitchApi;

namespace CallRecovery.Tests.SwitchApi;

public class SwitchTextTests
{
    [Theory]
    [InlineData("q850:21 SIP 480 from sip:+447700900456@ims", "q850:21 SIP 480 from sip:[number]@ims")]
    [InlineData("tel:+44-7700-900456;phone-context=ims", "tel:[number];phone-context=ims")]
    [InlineData("<sips:07700900456@ims.operator.net;user=phone>", "<sips:[number]@ims.operator.net;user=phone>")]
    [InlineData("called +44 7700 900456 twice", "called [number] twice")]
    [InlineData("callee (020) 7946-0958 busy", "callee [number] busy")]
    [InlineData("pod-447700900456", "pod-[number]")]
    [InlineData("SIP:alice@example.com", "SIP:[number]@example.com")]
    public void Numbers_and_sip_or_tel_users_are_masked(string text, string cleaned) =>
        Assert.Equal(cleaned, SwitchText.Clean(text));

    [Theory]
    [InlineData("q850:34 no circuit available")]
    [InlineData("SIP 480 Temporarily Unavailable; q850:41")]
    [InlineData("reconnect-3f2a1b4c9d0e")]
    [InlineData("overloaded, retry in 250 ms")]
    [InlineData("")]
    public void Cause_codes_and_ordinary_words_stay_readable(string text) =>
        Assert.Equal(text, SwitchText.Clean(text));

    [Fact]
    public void Nothing_becomes_empty() => Assert.Equal(string.Empty, SwitchText.Clean(null));
}

public class SwitchIdentityTests
{
    private static readonly SwitchingOptions Options = new()
    {
        CertificateSwitches = { ["msc-north.operator.net"] = "switch-north switch-north-b" },
        MinAdmissionRate = 5,
        MinAdmissionRates = { ["switch-small"] = 1 },
        AdmissionRates = { ["switch-configured"] = 50 },
    };

    [Fact]
    public void An_identity_serves_the_switch_it_is_or_the_ones_it_is_mapped_to()
    {
        Assert.True(Options.CertificateServes(["switch-a"], "switch-a"));
        Assert.False(Options.CertificateServes(["switch-a"], "switch-b"));
        Assert.True(Options.CertificateServes(["msc-north.operator.net"], "switch-north-b"));
        // A mapped identity serves only what the mapping lists, not its own name.
        Assert.False(Options.CertificateServes(["msc-north.operator.net"], "msc-north.operator.net"));
        Assert.False(Options.CertificateServes([], "switch-a"));
    }

    [Fact]
    public void A_declared_rate_never_goes_below_the_floor_of_its_switch()
    {
        Assert.Equal(5, Options.AdmissionRateOf("switch-a", 1));
        Assert.Equal(40, Options.AdmissionRateOf("switch-a", 40));
        Assert.Equal(2, Options.AdmissionRateOf("switch-small", 2));
        // Declaring nothing takes the configured rate.
        Assert.Equal(50, Options.AdmissionRateOf("switch-configured", 0));
    }
}
