using CallRecovery.Recoveries;



namespace CallRecovery.Tests.Recoveries;

public class RecoveryIdsTests
{
    [Theory]
    [InlineData("icid-5f1c2a")]
    [InlineData("a.b.c:d@ims.example")]
    public void A_recovery_id_leads_back_to_its_call(string callId)
    {
        var recoveryId = RecoveryIds.For(callId);
        Assert.True(RecoveryIds.TryGetCallId(recoveryId, out var found));
        Assert.Equal(callId, found);
    }

    [Fact]
    public void The_same_call_always_gets_the_same_recovery_id_and_another_call_another()
    {
        // A replay after Redis lost its last writes recreates the recovery under the id the switch already knows.
        Assert.Equal(RecoveryIds.For("icid-5f1c2a"), RecoveryIds.For("icid-5f1c2a"));
        Assert.NotEqual(RecoveryIds.For("icid-5f1c2a"), RecoveryIds.For("icid-5f1c2b"));
        Assert.Matches("^[0-9a-f]{12}8[0-9a-f]{3}[89ab][0-9a-f]{15}\\.icid-5f1c2a$", RecoveryIds.For("icid-5f1c2a"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-recovery-id")]
    [InlineData("0123456789ABCDEF0123456789abcdef.call")]
    [InlineData("0123456789abcdef0123456789abcdef.{slot}")]
    [InlineData("0123456789abcdef0123456789abcdef.call")]
    public void Anything_else_is_not_a_recovery_id(string text) =>
        Assert.False(RecoveryIds.TryGetCallId(text, out _));

    [Fact]
    public void Text_a_switch_appends_to_an_issued_id_is_not_a_recovery_id() =>
        Assert.False(RecoveryIds.TryGetCallId(RecoveryIds.For("icid-5f1c2a") + ".tel:+447700900456", out _));
}
