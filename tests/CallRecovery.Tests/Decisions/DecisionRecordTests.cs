using CallRecovery.Decisions;
using CallRecovery.Policy;

namespace CallRecovery.Tests.Decisions;

public class DecisionRecordTests
{
    [Fact]
    public void The_reason_property_the_settle_script_reads_is_the_one_a_decision_is_stored_with()
    {
        // settle_call.lua lets a redriven report's real decision take the place of its invalid note by this property.
        var json = new DecisionRecord { EventId = "e1", CallId = "icid-1", Reason = DecisionReason.Invalid, DecidedAt = DateTimeOffset.UnixEpoch }.ToJsonUtf8();
        var text = System.Text.Encoding.UTF8.GetString(json);
        Assert.Contains($"\"{DecisionRecord.ReasonProperty}\":\"{DecisionReason.Invalid.ToWireName()}\"", text, StringComparison.Ordinal);
    }
}
