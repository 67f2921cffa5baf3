using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace CallRecovery.Observability;

/// <summary>
/// The spans of a recovery's trace, from the Kafka event to the final outcome, with OpenTelemetry's semantic
/// conventions for messaging and RPC plus our own attributes. Phone numbers never become attributes. It is given
/// values (ids, causes, states), so it depends on no stage; each stage names its own spans with these.
/// </summary>
public static class RecoveryTracing
{
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";

    // Semantic-convention and service attribute names, in one place.
    public const string MessagingSystem = "messaging.system";
    public const string MessagingOperationType = "messaging.operation.type";
    public const string MessagingOperationName = "messaging.operation.name";
    public const string MessagingDestination = "messaging.destination.name";
    public const string MessagingPartition = "messaging.destination.partition.id";
    public const string MessagingOffset = "messaging.kafka.offset";
    public const string MessagingConsumerGroup = "messaging.consumer.group.name";
    public const string MessagingMessageId = "messaging.message.id";
    public const string RpcSystem = "rpc.system";
    public const string RpcService = "rpc.service";
    public const string RpcMethod = "rpc.method";
    public const string CallId = "callrecovery.call_id";
    public const string RecoveryId = "callrecovery.recovery_id";
    public const string Cause = "callrecovery.release_cause";
    public const string Cell = "callrecovery.serving_cell";
    public const string SwitchId = "callrecovery.switch.id";
    public const string SwitchingNode = "callrecovery.switching_node";
    public const string Reason = "callrecovery.decision.reason";
    public const string Detail = "callrecovery.decision.detail";
    public const string Attempt = "callrecovery.attempt";
    public const string CallbackAttempt = "callrecovery.callback_attempt";

    /// <summary>The outage incident that held the recovery.</summary>
    public const string Incident = "callrecovery.incident";

    public const string Stage = "callrecovery.stage";
    public const string Outcome = "callrecovery.outcome";
    public const string CompensationTemplate = "callrecovery.compensation.template";
    public const string CompensationCredit = "callrecovery.compensation.credit";
    public const string ErrorType = "error.type";

    private static ActivitySource Source => CallRecoveryTelemetry.ActivitySource;

    /// <summary>"{topic} process": one network event, continuing the trace context of its Kafka headers.</summary>
    public static Activity? StartProcess(ConsumeResult<byte[]?, byte[]?> result, string groupId)
    {
        var parent = ParentFrom(result.Message.Headers);
        // Without a traceparent header the span is a root: never a child of whatever span happens to be ambient
        // (a previous event's, which would chain every event of the process into one ever-growing trace).
        Activity.Current = null;
        var activity = Source.StartActivity($"{result.Topic} process", ActivityKind.Consumer, parent);
        // Nor does it stay ambient for the next event or for work done on behalf of the batch.
        Activity.Current = null;
        activity?.SetTag(MessagingSystem, "kafka")
            .SetTag(MessagingOperationType, "process")
            .SetTag(MessagingOperationName, "process")
            .SetTag(MessagingDestination, result.Topic)
            .SetTag(MessagingPartition, result.Partition.Value.ToString(CultureInfo.InvariantCulture))
            .SetTag(MessagingOffset, result.Offset.Value)
            .SetTag(MessagingConsumerGroup, groupId);
        return activity;
    }

    /// <summary>A step of a recovery after its decision (dispatch, acknowledge, progress, outcome), in the recovery's trace.</summary>
    public static Activity? StartStep(string step, string traceParent, string recoveryId, string callId, string switchId, ActivityKind kind = ActivityKind.Server)
    {
        ActivityContext.TryParse(traceParent, null, out var parent);
        var activity = Source.StartActivity($"recovery {step}", kind, parent);
        activity?.SetTag(RpcSystem, "grpc")
            .SetTag(RpcService, "callrecovery.v1.Switching")
            .SetTag(RpcMethod, "Connect")
            .SetTag(RecoveryId, recoveryId)
            .SetTag(CallId, callId)
            .SetTag(SwitchId, switchId);
        return activity;
    }

    /// <summary>"{topic} publish": an outcome update leaving for Kafka.</summary>
    public static Activity? StartPublish(string topic, string traceParent, string recoveryId, string callId)
    {
        ActivityContext.TryParse(traceParent, null, out var fallback);
        var parent = Activity.Current?.Context ?? fallback;
        var activity = Source.StartActivity($"{topic} publish", ActivityKind.Producer, parent);
        activity?.SetTag(MessagingSystem, "kafka")
            .SetTag(MessagingOperationType, "send")
            .SetTag(MessagingOperationName, "publish")
            .SetTag(MessagingDestination, topic)
            .SetTag(RecoveryId, recoveryId)
            .SetTag(CallId, callId);
        return activity;
    }

    public static void Failed(Activity? activity, string errorType, string description)
    {
        activity?.SetTag(ErrorType, errorType).SetStatus(ActivityStatusCode.Error, description);
    }

    private static ActivityContext ParentFrom(Headers? headers)
    {
        if (headers is null || !headers.TryGetLastBytes(TraceParentHeader, out var traceParent))
        {
            return default;
        }

        var traceState = headers.TryGetLastBytes(TraceStateHeader, out var state) ? Encoding.ASCII.GetString(state) : null;
        return ActivityContext.TryParse(Encoding.ASCII.GetString(traceParent), traceState, out var context) ? context : default;
    }
}
