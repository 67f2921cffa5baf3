using CallRecovery.Store;

namespace CallRecovery.Tests.Store;

public class RecoveryIdsTests
{
    [Theory]
    [InlineData("icid-5f1c2a")]
    [InlineData("a.b.c:d@ims.example")]
    public void A_recovery_id_leads_back_to_its_call(string callId)
    {
        var recoveryId = RecoveryIds.New(callId, DateTimeOffset.UtcNow);
        Assert.True(RecoveryIds.TryGetCallId(recoveryId, out var found));
        Assert.Equal(callId, found);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-recovery-id")]
    [InlineData("0123456789ABCDEF0123456789abcdef.call")]
    [InlineData("0123456789abcdef0123456789abcdef.{slot}")]
    public void Anything_else_is_not_a_recovery_id(string text) =>
        Assert.False(RecoveryIds.TryGetCallId(text, out _));
}
