using CallRecovery.Contracts.V1;
using Microsoft.Extensions.Options;
using CallRecovery.Policy;

namespace CallRecovery.Tests.Policy;

public class DropClassifierTests
{
    private static readonly DateTimeOffset Dropped = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    private static CallDrop Drop(string cause = "q850:41", double answeredSeconds = 60, string caller = "+447700900123", string callee = "+447700900456", Party dropped = Party.Caller, bool emergency = false) =>
        new("e1", "call-1", caller, callee, dropped, new ReleaseCauseKey(cause), answeredSeconds < 0 ? null : Dropped.AddSeconds(-answeredSeconds), Dropped, "cell-1", "msc-1", AccessTechnology.Eutran, emergency, "probe");

    private static DropClassifier Classifier(ClassificationOptions? classification = null, CallbackParty callBack = CallbackParty.DroppedParty) =>
        new(Options.Create(classification ?? new ClassificationOptions()), Options.Create(new RecoveryPolicyOptions { CallBack = callBack }));

    [Theory]
    [InlineData("q850:27")]
    [InlineData("q850:41")]
    [InlineData("q850:102")]
    [InlineData("sip-release-cause:2")]
    [InlineData("radio:radio-connection-with-ue-lost")]
    [InlineData("rx:0")]
    [InlineData("cdr:4")]
    public void Network_drop_causes_are_candidates(string cause) =>
        Assert.True(Classifier().Classify(Drop(cause)).IsCandidate);

    [Theory]
    [InlineData("q850:16")]
    [InlineData("q850:17")]
    [InlineData("q850:31")]
    [InlineData("sip:200")]
    [InlineData("rx:3")]
    [InlineData("cdr:2")]
    [InlineData("radio:user-inactivity")]
    public void Normal_clearing_and_operator_releases_are_not_recovered(string cause) =>
        Assert.Equal(DecisionReason.NormalClearing, Classifier().Classify(Drop(cause)).Reason);

    [Fact]
    public void A_call_that_never_connected_is_not_a_drop() =>
        Assert.Equal(DecisionReason.NeverAnswered, Classifier().Classify(Drop(answeredSeconds: -1)).Reason);

    [Fact]
    public void A_call_shorter_than_the_minimum_is_too_short() =>
        Assert.Equal(DecisionReason.TooShort, Classifier().Classify(Drop(answeredSeconds: 4)).Reason);

    [Fact]
    public void Emergency_calls_are_never_recovered()
    {
        Assert.Equal(DecisionReason.ExcludedDestination, Classifier().Classify(Drop(emergency: true)).Reason);
        Assert.Equal(DecisionReason.ExcludedDestination, Classifier().Classify(Drop(callee: "112")).Reason);
    }

    [Fact]
    public void Premium_prefixes_and_short_codes_are_excluded()
    {
        Assert.Equal(DecisionReason.ExcludedDestination, Classifier().Classify(Drop(callee: "+19005551234")).Reason);
        Assert.Equal(DecisionReason.ExcludedDestination, Classifier().Classify(Drop(callee: "4444")).Reason);
    }

    [Fact]
    public void The_configured_table_replaces_the_default()
    {
        var classifier = Classifier(new ClassificationOptions { DropCauses = ["q850:16"] });
        Assert.True(classifier.Classify(Drop("q850:16")).IsCandidate);
        Assert.False(classifier.Classify(Drop("q850:41")).IsCandidate);
    }

    [Theory]
    [InlineData(Party.Caller, "+447700900123")]
    [InlineData(Party.Callee, "+447700900456")]
    [InlineData(Party.Unspecified, "+447700900123")]
    public void The_party_whose_leg_dropped_is_called_back_and_the_caller_when_unknown(Party dropped, string expected)
    {
        var verdict = Classifier().Classify(Drop(dropped: dropped));
        Assert.Equal(expected, verdict.CallBack);
        Assert.NotEqual(expected, verdict.OtherParty);
    }

    [Theory]
    [InlineData("q850:41", null)]
    [InlineData("radio:radio-connection-with-ue-lost", null)]
    [InlineData("q851:41", "protocol")]
    [InlineData("41", "protocol")]
    public void Configured_causes_are_validated(string cause, string? expectedProblem)
    {
        var problem = DropClassifier.ValidateCause(cause);
        if (expectedProblem is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.Contains(expectedProblem, problem);
        }
    }

    [Theory]
    [InlineData("+447700900123", "999", false, "+447700900123")]
    [InlineData("+447700900123", "+447700900456", true, "+447700900123")]
    [InlineData("112", "+447700900456", false, "+447700900456")]
    [InlineData("+447700900123", "+447700900456", false, null)]
    public void Emergency_calls_protect_the_caller_and_an_emergency_centre_protects_whom_it_calls(string caller, string callee, bool flag, string? protectedParty) =>
        Assert.Equal(protectedParty, Classifier().ProtectedParty(caller, callee, flag));

    [Fact]
    public void A_drop_from_an_emergency_centre_is_not_recovered() =>
        Assert.Equal(DecisionReason.ExcludedDestination, Classifier().Classify(Drop(caller: "112")).Reason);
}
