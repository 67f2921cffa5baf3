using System.Text;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Google.Protobuf;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Microsoft.Extensions.Options;
using CallRecovery.Kafka;
using CallRecovery.Observability;
using CallRecovery.Recoveries;

namespace CallRecovery.Outcomes;

/// <summary>
/// Publishes what became of each recovery to the outcome topic, keyed by recovery id so one recovery's
/// updates stay in order on one partition. Awaits the broker's acknowledgement: callers confirm a report
/// to the switch, or finish an expiry, only after the update is safe.
/// </summary>
public sealed class OutcomePublisher(IProducer<byte[]?, byte[]?> producer, IOptions<KafkaOptions> options)
{
    private readonly string _topic = options.Value.OutcomeTopic;

    public Task PublishStageAsync(RecoveryRecord recovery, Stage stage, DateTimeOffset at)
    {
        var update = Update(recovery, at);
        update.Stage = stage;
        return PublishAsync(recovery, update);
    }

    public Task PublishOutcomeAsync(RecoveryRecord recovery, Outcome outcome)
    {
        var update = Update(recovery, recovery.CompletedAt ?? DateTimeOffset.UtcNow);
        update.Outcome = outcome;
        update.Detail = recovery.Detail;
        update.SurveyScore = (uint)recovery.SurveyScore;
        update.ReconnectCallId = recovery.ReconnectCallId;
        if (recovery.TalkTime is { } talk)
        {
            update.TalkTime = Duration.FromTimeSpan(talk);
        }

        return PublishAsync(recovery, update);
    }

    private async Task PublishAsync(RecoveryRecord recovery, RecoveryUpdate update)
    {
        using var span = RecoveryTracing.StartPublish(_topic, recovery.TraceParent, recovery.RecoveryId, recovery.CallId);
        var headers = new Headers { { "content-type", "application/x-protobuf"u8.ToArray() } };
        var traceParent = span?.Id ?? recovery.TraceParent;
        if (traceParent.Length > 0)
        {
            headers.Add(RecoveryTracing.TraceParentHeader, Encoding.ASCII.GetBytes(traceParent));
        }

        await producer.ProduceAsync(_topic, new Message<byte[]?, byte[]?>
        {
            Key = Encoding.UTF8.GetBytes(recovery.RecoveryId),
            Value = update.ToByteArray(),
            Headers = headers,
        }).ConfigureAwait(false);
    }

    private static RecoveryUpdate Update(RecoveryRecord recovery, DateTimeOffset at) => new()
    {
        RecoveryId = recovery.RecoveryId,
        CallId = recovery.CallId,
        SwitchId = recovery.SwitchId,
        Customer = recovery.CallBack,
        OtherParty = recovery.OtherParty,
        DropTime = Timestamp.FromDateTimeOffset(recovery.DropTime),
        At = Timestamp.FromDateTimeOffset(at),
        ChargingReference = recovery.RecoveryId,
        Attempts = (uint)recovery.Attempts,
    };
}
