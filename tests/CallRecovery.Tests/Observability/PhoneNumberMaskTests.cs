using CallRecovery.Observability;



namespace CallRecovery.Tests.Observability;

public class PhoneNumberMaskTests
{
    [Theory]
    [InlineData("+447700900123", "+44********23")]
    [InlineData("+15551234567", "+15*******67")]
    [InlineData("112", "112")]
    [InlineData("", "")]
    public void Numbers_keep_only_the_country_lead_and_last_two_digits(string number, string expected) =>
        Assert.Equal(expected, PhoneNumberMask.Mask(number));
}
