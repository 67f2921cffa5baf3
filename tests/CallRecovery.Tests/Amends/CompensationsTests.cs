using CallRecovery.Amends;
using CallRecovery.Contracts.V1;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallRecovery.Tests.Amends;

public class CompensationsTests
{
    [Theory]
    [InlineData(Outcome.NoAnswer, true)]
    [InlineData(Outcome.Busy, true)]
    [InlineData(Outcome.OtherPartyUnreachable, true)]
    [InlineData(Outcome.Failed, true)]
    [InlineData(Outcome.Expired, true)]
    [InlineData(Outcome.OutageNotRecovered, true)]
    [InlineData(Outcome.CustomerUnreachable, true)]
    [InlineData(Outcome.QuietHours, true)]
    [InlineData(Outcome.NoReport, true)]
    [InlineData(Outcome.Reconnected, false)]
    [InlineData(Outcome.CustomerDeclined, false)]
    [InlineData(Outcome.Cancelled, false)]
    [InlineData(Outcome.Unspecified, false)]
    public void Only_an_end_without_a_reconnect_the_customer_chose_is_compensated(Outcome outcome, bool owed) =>
        Assert.Equal(owed, Compensations.IsOwed(outcome));

    [Fact]
    public void Outcomes_are_named_as_published()
    {
        Assert.Equal("NO_ANSWER", Compensations.WireName(Outcome.NoAnswer));
        Assert.Equal("OUTAGE_NOT_RECOVERED", Compensations.WireName(Outcome.OutageNotRecovered));
        Assert.True(Compensations.IsOwedName("EXPIRED"));
        Assert.False(Compensations.IsOwedName("CANCELLED"));
        Assert.False(Compensations.IsOwedName("NoAnswer"));
    }

    [Theory]
    [InlineData("Compensation:DefaultCredit:MinorUnits", "100", "three-letter ISO 4217 currency")]
    [InlineData("Compensation:Credits:EXPIRED:MinorUnits", "100", "three-letter ISO 4217 currency")]
    [InlineData("Compensation:Credits:RECONNECTED:FreeMinutes", "5", "outcomes that are compensated")]
    [InlineData("Compensation:Templates:NoAnswer", "sorry", "outcomes that are compensated")]
    public void A_credit_or_template_that_cannot_be_meant_stops_the_start(string key, string value, string message)
    {
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build())
            .AddCompensation()
            .BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<CompensationOptions>>().Value);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Minutes_and_an_amount_together_are_refused()
    {
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Compensation:DefaultCredit:FreeMinutes"] = "5",
                ["Compensation:DefaultCredit:Currency"] = "INR",
                ["Compensation:DefaultCredit:MinorUnits"] = "100",
            }).Build())
            .AddCompensation()
            .BuildServiceProvider();
        Assert.Contains("not both", Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<CompensationOptions>>().Value).Message, StringComparison.Ordinal);
    }
}
