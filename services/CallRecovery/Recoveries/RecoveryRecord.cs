using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;
using CallRecovery.Observability;

namespace CallRecovery.Recoveries;

/// <summary>An accepted recovery: who to call back, whom to reconnect, where and when, and how far it got.</summary>
public sealed record RecoveryRecord
{
    public required string RecoveryId { get; init; }

    public required string CallId { get; init; }

    public required RecoveryState State { get; init; }

    /// <summary>The customer to call back (E.164). Personal data: mask before showing.</summary>
    public required string CallBack { get; init; }

    /// <summary>The party to reconnect the customer to (E.164). Personal data: mask before showing.</summary>
    public required string OtherParty { get; init; }

    public required DateTimeOffset DropTime { get; init; }

    public required DateTimeOffset AcceptedAt { get; init; }

    public required string EventId { get; init; }

    public required string SwitchId { get; init; }

    public required DateTimeOffset DueAt { get; init; }

    public required DateTimeOffset Deadline { get; init; }

    public string Cause { get; init; } = string.Empty;

    public string ServingCell { get; init; } = string.Empty;

    public string SwitchingNode { get; init; } = string.Empty;

    public string AccessTechnology { get; init; } = string.Empty;

    /// <summary>W3C trace context of the recovery's trace, carried to the switch and into outcome events.</summary>
    public string TraceParent { get; init; } = string.Empty;

    public int Attempts { get; init; }

    public DateTimeOffset? FirstDispatchedAt { get; init; }

    public DateTimeOffset? AcknowledgedAt { get; init; }

    /// <summary>The latest progress stage reported (a Contracts.V1.Stage name), empty before any.</summary>
    public string Stage { get; init; } = string.Empty;

    /// <summary>The final outcome (a Contracts.V1.Outcome name), empty until there is one.</summary>
    public string Outcome { get; init; } = string.Empty;

    /// <summary>Why it expired or was cancelled, or the switch's failure cause.</summary>
    public string Detail { get; init; } = string.Empty;

    public DateTimeOffset? CompletedAt { get; init; }

    public TimeSpan? TalkTime { get; init; }

    public int SurveyScore { get; init; }

    public string ReconnectCallId { get; init; } = string.Empty;

    /// <summary>Which callback this is: 1 for the first, higher after no answer or busy.</summary>
    public int CallbackAttempt { get; init; } = 1;

    /// <summary>Why it is or was held (<see cref="RecoveryLifecycle.HoldForReachability"/>, <see cref="RecoveryLifecycle.HoldForOutage"/>), empty if never.</summary>
    public string Hold { get; init; } = string.Empty;

    /// <summary>The outage incident that holds or held it, empty if none.</summary>
    public string Incident { get; init; } = string.Empty;

    /// <summary>Its next callback is not the immediate one after the drop (a retry, or it waited while held): quiet hours apply.</summary>
    public bool Delayed { get; init; }

    public DateTimeOffset? HeldAt { get; init; }

    public DateTimeOffset? ReleasedAt { get; init; }

    /// <summary>When it was last put off for quiet hours, and why.</summary>
    public DateTimeOffset? DeferredAt { get; init; }

    public string Deferral { get; init; } = string.Empty;

    /// <summary>Callbacks that ended without reconnecting and were tried again: number, outcome, when, the switch's cause.</summary>
    public IReadOnlyList<CallbackAttemptOutcome> EarlierCallbacks { get; init; } = [];

    /// <summary>When each progress stage was first reported, by stage name (a later callback's as "Stage@n").</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> StageTimes { get; init; } = new Dictionary<string, DateTimeOffset>();

    /// <summary>A step of this recovery (dispatch, progress, outcome, ...) as a span in its trace.</summary>
    public Activity? StartSpan(string step, ActivityKind kind = ActivityKind.Server) =>
        RecoveryTracing.StartStep(step, TraceParent, RecoveryId, CallId, SwitchId, kind)
            ?.SetTag(RecoveryTracing.Cause, Cause)
            .SetTag(RecoveryTracing.Cell, ServingCell)
            .SetTag(RecoveryTracing.Attempt, Attempts)
            .SetTag(RecoveryTracing.CallbackAttempt, CallbackAttempt);

    /// <summary>The fields written when the recovery is created; later fields are written by the dispatch scripts.</summary>
    public HashEntry[] ToHashEntries() =>
    [
        new("recoveryId", RecoveryId),
        new("callId", CallId),
        new("state", State.ToString()),
        new("callBack", CallBack),
        new("otherParty", OtherParty),
        new("dropTime", DropTime.ToUnixTimeMilliseconds()),
        new("acceptedAt", AcceptedAt.ToUnixTimeMilliseconds()),
        new("eventId", EventId),
        new("switchId", SwitchId),
        new("dueAt", DueAt.ToUnixTimeMilliseconds()),
        new("deadline", Deadline.ToUnixTimeMilliseconds()),
        new("cause", Cause),
        new("servingCell", ServingCell),
        new("switchingNode", SwitchingNode),
        new("accessTechnology", AccessTechnology),
        new("traceparent", TraceParent),
        new("attempts", 0),
        new("callbackAttempt", 1),
        new("hold", Hold),
        new("incident", Incident),
    ];

    /// <summary>
    /// The hash fields a transition returns when its effects need no whole record (<see cref="RecoveryLifecycle.NeedWholeRecord"/>):
    /// what the service acts on after any move. Injected into the transition script, so the names have one source.
    /// </summary>
    public static IReadOnlyList<string> ShortFields { get; } = ["state", "callId", "recoveryId", "switchId", "attempts", "detail", "traceparent", "dueAt", "deadline", "callbackAttempt", "incident"];

    public static RecoveryRecord FromHash(HashEntry[] entries) =>
        FromFields(entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal));

    /// <summary>From a flat field/value list, as Lua's HGETALL returns it.</summary>
    public static RecoveryRecord FromFlatList(IReadOnlyList<string> fieldsAndValues)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < fieldsAndValues.Count; i += 2)
        {
            fields[fieldsAndValues[i]] = fieldsAndValues[i + 1];
        }

        return FromFields(fields);
    }

    private static RecoveryRecord FromFields(Dictionary<string, string> fields)
    {
        string Field(string name) => fields.GetValueOrDefault(name, string.Empty);
        DateTimeOffset? Maybe(string name) => long.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        DateTimeOffset Time(string name) => Maybe(name) ?? DateTimeOffset.UnixEpoch;
        int Number(string name) => int.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new RecoveryRecord
        {
            RecoveryId = Field("recoveryId"),
            CallId = Field("callId"),
            // A state the lifecycle does not know is a defect to surface, never a Pending recovery.
            State = Enum.TryParse<RecoveryState>(Field("state"), ignoreCase: false, out var state) && Enum.IsDefined(state) ? state
                : throw new FormatException("The recovery's state is not one of the lifecycle's states."),
            CallBack = Field("callBack"),
            OtherParty = Field("otherParty"),
            DropTime = Time("dropTime"),
            AcceptedAt = Time("acceptedAt"),
            EventId = Field("eventId"),
            SwitchId = Field("switchId"),
            DueAt = Time("dueAt"),
            Deadline = Time("deadline"),
            Cause = Field("cause"),
            ServingCell = Field("servingCell"),
            SwitchingNode = Field("switchingNode"),
            AccessTechnology = Field("accessTechnology"),
            TraceParent = Field("traceparent"),
            Attempts = Number("attempts"),
            FirstDispatchedAt = Maybe("firstDispatchedAt"),
            AcknowledgedAt = Maybe("acknowledgedAt"),
            Stage = Field("stage"),
            Outcome = Field("outcome"),
            Detail = Field("detail"),
            CompletedAt = Maybe("completedAt"),
            TalkTime = Maybe("talkTimeMs") is { } talk ? TimeSpan.FromMilliseconds(talk.ToUnixTimeMilliseconds()) : null,
            SurveyScore = Number("surveyScore"),
            ReconnectCallId = Field("reconnectCallId"),
            CallbackAttempt = Math.Max(1, Number("callbackAttempt")),
            Hold = Field("hold"),
            Incident = Field("incident"),
            Delayed = Field("delayed") == "1",
            HeldAt = Maybe("heldAt"),
            ReleasedAt = Maybe("releasedAt"),
            DeferredAt = Maybe("deferredAt"),
            Deferral = Field("deferral"),
            EarlierCallbacks = [.. Enumerable.Range(1, Math.Max(0, Number("callbackAttempt") - 1))
                .Where(n => fields.ContainsKey($"attempt:{n}:outcome"))
                .Select(n => new CallbackAttemptOutcome(n, Field($"attempt:{n}:outcome"), Time($"attempt:{n}:at"), Field($"attempt:{n}:detail")))],
            StageTimes = fields.Where(f => f.Key.StartsWith("stage:", StringComparison.Ordinal))
                .ToDictionary(f => f.Key["stage:".Length..], f => DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(f.Value, CultureInfo.InvariantCulture)), StringComparer.Ordinal),
        };
    }
}

/// <summary>A callback that ended without reconnecting and was tried again.</summary>
public sealed record CallbackAttemptOutcome(int Number, string Outcome, DateTimeOffset At, string Detail);

/// <summary>
/// Recovery ids carry their call id, so a report naming a recovery finds its Redis slot without a lookup. The
/// first part is a name-based UUID of the call id (version 8, SHA-256, as RFC 9562 describes): the same call
/// always gets the same recovery id, so a replay after Redis lost its last writes recreates the same recovery,
/// and the switch's act-once-per-recovery_id still protects the customer.
/// </summary>
public static class RecoveryIds
{
    private const int UniquePartLength = 32;

    // Namespace of our name-based UUIDs: a fixed random value, never to change (ids already issued depend on it).
    private static readonly byte[] Namespace = Convert.FromHexString("6f0d3c2e9b7a4c1d8e5f20a1b3c4d5e6");

    public static string For(string callId)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(callId);
        var input = new byte[Namespace.Length + name.Length];
        Namespace.CopyTo(input, 0);
        name.CopyTo(input, Namespace.Length);
        var hash = System.Security.Cryptography.SHA256.HashData(input).AsSpan(0, 16);
        hash[6] = (byte)((hash[6] & 0x0f) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3f) | 0x80);
        return $"{Convert.ToHexStringLower(hash)}.{callId}";
    }

    public static bool TryGetCallId(string recoveryId, out string callId)
    {
        callId = string.Empty;
        if (recoveryId.Length <= UniquePartLength + 1 || recoveryId[UniquePartLength] != '.' || !recoveryId.AsSpan(0, UniquePartLength).ContainsOnlyLowerHex())
        {
            return false;
        }

        callId = recoveryId[(UniquePartLength + 1)..];
        return !callId.Contains('{', StringComparison.Ordinal) && !callId.Contains('}', StringComparison.Ordinal);
    }

    private static bool ContainsOnlyLowerHex(this ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
