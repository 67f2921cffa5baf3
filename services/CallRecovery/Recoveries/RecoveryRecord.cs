using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Globalization;
using CallRecovery.Observability;

namespace CallRecovery.Recoveries;

/// <summary>The names of a recovery's fields as Redis holds them (one hash per recovery), in one place; the Lua scripts get them from here.</summary>
public static class RecoveryFields
{
    public const string Version = "v";
    public const string RecoveryId = "recoveryId";
    public const string CallId = "callId";
    public const string State = "state";
    public const string CallBack = "callBack";
    public const string OtherParty = "otherParty";
    public const string DropTime = "dropTime";
    public const string AcceptedAt = "acceptedAt";
    public const string EventId = "eventId";
    public const string SwitchId = "switchId";
    public const string DueAt = "dueAt";
    public const string Deadline = "deadline";
    public const string Cause = "cause";
    public const string ServingCell = "servingCell";
    public const string SwitchingNode = "switchingNode";
    public const string AccessTechnology = "accessTechnology";
    public const string TraceParent = "traceparent";
    public const string Attempts = "attempts";
    public const string CallbackAttempt = "callbackAttempt";
    public const string CallbackSince = "callbackSince";
    public const string Hold = "hold";
    public const string Incident = "incident";
    public const string Delayed = "delayed";
    public const string Shadow = "shadow";
    public const string Vulnerable = "vulnerable";
    public const string Grace = "grace";
    public const string GraceBasis = "graceBasis";
    public const string DispatchedAt = "dispatchedAt";
    public const string FirstDispatchedAt = "firstDispatchedAt";
    public const string Connection = "connection";
    public const string AcknowledgedAt = "acknowledgedAt";
    public const string AcceptedAttempt = "acceptedAttempt";
    public const string LastReportAt = "lastReportAt";
    public const string LastRejection = "lastRejection";
    public const string AckTimeouts = "ackTimeouts";
    public const string Stage = "stage";
    public const string HeldAt = "heldAt";
    public const string FiledUntil = "filedUntil";
    public const string ReleasedAt = "releasedAt";
    public const string DeferredAt = "deferredAt";
    public const string Deferral = "deferral";
    public const string LastOutcome = "lastOutcome";
    public const string LastOutcomeAt = "lastOutcomeAt";
    public const string Outcome = "outcome";
    public const string CompletedAt = "completedAt";
    public const string TalkTimeMs = "talkTimeMs";
    public const string Detail = "detail";
    public const string SurveyScore = "surveyScore";
    public const string ReconnectCallId = "reconnectCallId";

    /// <summary>When a stage was first reported: "stage:Bridged" for the first callback, "stage:Bridged@2" for the second.</summary>
    public static string StageAt(string stage, int callbackAttempt) => "stage:" + stage + (callbackAttempt > 1 ? "@" + callbackAttempt.ToString(CultureInfo.InvariantCulture) : string.Empty);

    /// <summary>The ended callback <paramref name="callback"/>'s outcome, time and detail: "attempt:1:outcome", ...</summary>
    public static string EarlierCallback(int callback, string part) => $"attempt:{callback.ToString(CultureInfo.InvariantCulture)}:{part}";

    public const string StagePrefix = "stage:";
}

/// <summary>An accepted recovery: who to call back, whom to reconnect, where and when, and how far it got.</summary>
public sealed record RecoveryRecord
{
    private static readonly IReadOnlyDictionary<string, DateTimeOffset> NoStageTimes = ReadOnlyDictionary<string, DateTimeOffset>.Empty;

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

    /// <summary>The W3C trace id of the recovery's trace (from <see cref="TraceParent"/>), empty when it has none.</summary>
    public string TraceId => ActivityContext.TryParse(TraceParent, null, out var context) ? context.TraceId.ToHexString() : string.Empty;

    /// <summary>Deliveries of commands so far (all callbacks): the number of the latest one.</summary>
    public int Attempts { get; init; }

    /// <summary>The first delivery of the current callback (deliveries before it belong to earlier callbacks).</summary>
    public int CallbackSince { get; init; }

    public DateTimeOffset? FirstDispatchedAt { get; init; }

    public DateTimeOffset? DispatchedAt { get; init; }

    /// <summary>The switch connection the latest delivery went to.</summary>
    public string Connection { get; init; } = string.Empty;

    public DateTimeOffset? AcknowledgedAt { get; init; }

    /// <summary>The delivery the switch accepted for the current callback (0 before any).</summary>
    public int AcceptedAttempt { get; init; }

    /// <summary>When the switch last said something about the current callback (its acceptance or a stage): the outcome is awaited from then.</summary>
    public DateTimeOffset? LastReportAt { get; init; }

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

    /// <summary>Run in shadow (Rollout:Mode, or outside the canary when it was decided): everything but the call; its updates go to the shadow topic.</summary>
    public bool Shadow { get; init; }

    /// <summary>A vulnerable customer's (flagged on the drop or by CRM): first in its switch's queue, priority high, their deadline.</summary>
    public bool Vulnerable { get; init; }

    /// <summary>The grace period learned for its cell (<c>Switching:LearnedGrace</c>), null when the configured one applied.</summary>
    public TimeSpan? Grace { get; init; }

    /// <summary>Why that grace: where it was learned (cell, area, rare, default) and from what.</summary>
    public string GraceBasis { get; init; } = string.Empty;

    public DateTimeOffset? HeldAt { get; init; }

    /// <summary>
    /// Until when the recovery was filed under its pair and parties when it was created (absent on recoveries stored
    /// before it was written: their deadline): supervision that ends later files it again.
    /// </summary>
    public DateTimeOffset? FiledUntil { get; init; }

    public DateTimeOffset? ReleasedAt { get; init; }

    /// <summary>When it was last put off for quiet hours, and why.</summary>
    public DateTimeOffset? DeferredAt { get; init; }

    public string Deferral { get; init; } = string.Empty;

    /// <summary>The outcome of the callback before this one (what led to it), empty for the first callback.</summary>
    public string LastOutcome { get; init; } = string.Empty;

    /// <summary>Acknowledgements that timed out (deliveries sent again).</summary>
    public int AckTimeouts { get; init; }

    /// <summary>Callbacks that ended without reconnecting and were tried again: number, outcome, when, the switch's cause.</summary>
    public IReadOnlyList<CallbackAttemptOutcome> EarlierCallbacks { get; init; } = [];

    /// <summary>When each progress stage was first reported, by stage name (a later callback's as "Stage@n").</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> StageTimes { get; init; } = NoStageTimes;

    /// <summary>A step of this recovery (dispatch, progress, outcome, ...) as a span in its trace.</summary>
    public Activity? StartSpan(string step, ActivityKind kind = ActivityKind.Server) =>
        RecoveryTracing.StartStep(step, TraceParent, RecoveryId, CallId, SwitchId, kind)
            ?.SetTag(RecoveryTracing.Cause, Cause)
            .SetTag(RecoveryTracing.Cell, ServingCell)
            .SetTag(RecoveryTracing.Attempt, Attempts)
            .SetTag(RecoveryTracing.CallbackAttempt, CallbackAttempt);

    /// <summary>The fields written when the recovery is created; later fields are written by its moves.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ToFields() =>
    [
        new(RecoveryFields.RecoveryId, RecoveryId),
        new(RecoveryFields.CallId, CallId),
        new(RecoveryFields.State, State.ToString()),
        new(RecoveryFields.CallBack, CallBack),
        new(RecoveryFields.OtherParty, OtherParty),
        new(RecoveryFields.DropTime, Ms(DropTime)),
        new(RecoveryFields.AcceptedAt, Ms(AcceptedAt)),
        new(RecoveryFields.EventId, EventId),
        new(RecoveryFields.SwitchId, SwitchId),
        new(RecoveryFields.DueAt, Ms(DueAt)),
        new(RecoveryFields.Deadline, Ms(Deadline)),
        new(RecoveryFields.Cause, Cause),
        new(RecoveryFields.ServingCell, ServingCell),
        new(RecoveryFields.SwitchingNode, SwitchingNode),
        new(RecoveryFields.AccessTechnology, AccessTechnology),
        new(RecoveryFields.TraceParent, TraceParent),
        new(RecoveryFields.Attempts, "0"),
        new(RecoveryFields.CallbackAttempt, "1"),
        new(RecoveryFields.CallbackSince, "1"),
        new(RecoveryFields.Hold, Hold),
        new(RecoveryFields.Incident, Incident),
        .. Shadow ? [new KeyValuePair<string, string>(RecoveryFields.Shadow, "1")] : Array.Empty<KeyValuePair<string, string>>(),
        .. Vulnerable ? [new KeyValuePair<string, string>(RecoveryFields.Vulnerable, "1")] : Array.Empty<KeyValuePair<string, string>>(),
        .. Grace is { } grace ? [new KeyValuePair<string, string>(RecoveryFields.Grace, ((long)grace.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)), new KeyValuePair<string, string>(RecoveryFields.GraceBasis, GraceBasis)] : Array.Empty<KeyValuePair<string, string>>(),
        .. HeldAt is { } held ? [new KeyValuePair<string, string>(RecoveryFields.HeldAt, Ms(held))] : Array.Empty<KeyValuePair<string, string>>(),
        .. FiledUntil is { } filed ? [new KeyValuePair<string, string>(RecoveryFields.FiledUntil, Ms(filed))] : Array.Empty<KeyValuePair<string, string>>(),
    ];

    /// <summary>Unix milliseconds, as times are stored.</summary>
    public static string Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

    /// <summary>The recovery as stored: field names to values.</summary>
    public static RecoveryRecord FromFields(IReadOnlyDictionary<string, string> fields)
    {
        string Field(string name) => fields.GetValueOrDefault(name, string.Empty);
        DateTimeOffset? Maybe(string name) => long.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        DateTimeOffset Time(string name) => Maybe(name) ?? DateTimeOffset.UnixEpoch;
        int Number(string name) => int.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        var callbackAttempt = Math.Max(1, Number(RecoveryFields.CallbackAttempt));
        return new RecoveryRecord
        {
            RecoveryId = Field(RecoveryFields.RecoveryId),
            CallId = Field(RecoveryFields.CallId),
            // A state the lifecycle does not know is a defect to surface, never a Pending recovery.
            State = Enum.TryParse<RecoveryState>(Field(RecoveryFields.State), ignoreCase: false, out var state) && Enum.IsDefined(state) && !int.TryParse(Field(RecoveryFields.State), out _) ? state
                : throw new FormatException("The recovery's state is not one of the lifecycle's states."),
            CallBack = Field(RecoveryFields.CallBack),
            OtherParty = Field(RecoveryFields.OtherParty),
            DropTime = Time(RecoveryFields.DropTime),
            AcceptedAt = Time(RecoveryFields.AcceptedAt),
            EventId = Field(RecoveryFields.EventId),
            SwitchId = Field(RecoveryFields.SwitchId),
            DueAt = Time(RecoveryFields.DueAt),
            Deadline = Time(RecoveryFields.Deadline),
            Cause = Field(RecoveryFields.Cause),
            ServingCell = Field(RecoveryFields.ServingCell),
            SwitchingNode = Field(RecoveryFields.SwitchingNode),
            AccessTechnology = Field(RecoveryFields.AccessTechnology),
            TraceParent = Field(RecoveryFields.TraceParent),
            Attempts = Number(RecoveryFields.Attempts),
            // Recoveries stored before callbackSince was written on creation: the first callback's deliveries start at 1.
            CallbackSince = Math.Max(1, Number(RecoveryFields.CallbackSince)),
            FirstDispatchedAt = Maybe(RecoveryFields.FirstDispatchedAt),
            DispatchedAt = Maybe(RecoveryFields.DispatchedAt),
            Connection = Field(RecoveryFields.Connection),
            AcknowledgedAt = Maybe(RecoveryFields.AcknowledgedAt),
            AcceptedAttempt = Number(RecoveryFields.AcceptedAttempt),
            LastReportAt = Maybe(RecoveryFields.LastReportAt),
            Stage = Field(RecoveryFields.Stage),
            Outcome = Field(RecoveryFields.Outcome),
            Detail = Field(RecoveryFields.Detail),
            CompletedAt = Maybe(RecoveryFields.CompletedAt),
            TalkTime = long.TryParse(Field(RecoveryFields.TalkTimeMs), NumberStyles.Integer, CultureInfo.InvariantCulture, out var talk) ? TimeSpan.FromMilliseconds(talk) : null,
            SurveyScore = Number(RecoveryFields.SurveyScore),
            ReconnectCallId = Field(RecoveryFields.ReconnectCallId),
            CallbackAttempt = callbackAttempt,
            Hold = Field(RecoveryFields.Hold),
            Incident = Field(RecoveryFields.Incident),
            Delayed = Field(RecoveryFields.Delayed) == "1",
            Shadow = Field(RecoveryFields.Shadow) == "1",
            Vulnerable = Field(RecoveryFields.Vulnerable) == "1",
            Grace = long.TryParse(Field(RecoveryFields.Grace), NumberStyles.None, CultureInfo.InvariantCulture, out var graceMs) ? TimeSpan.FromMilliseconds(graceMs) : null,
            GraceBasis = Field(RecoveryFields.GraceBasis),
            HeldAt = Maybe(RecoveryFields.HeldAt),
            FiledUntil = Maybe(RecoveryFields.FiledUntil),
            ReleasedAt = Maybe(RecoveryFields.ReleasedAt),
            DeferredAt = Maybe(RecoveryFields.DeferredAt),
            Deferral = Field(RecoveryFields.Deferral),
            LastOutcome = Field(RecoveryFields.LastOutcome),
            AckTimeouts = Number(RecoveryFields.AckTimeouts),
            // Read on every move of every recovery, most with neither: nothing is built for what is not there.
            EarlierCallbacks = callbackAttempt == 1 ? [] : [.. Enumerable.Range(1, callbackAttempt - 1)
                .Where(n => fields.ContainsKey(RecoveryFields.EarlierCallback(n, "outcome")))
                .Select(n => new CallbackAttemptOutcome(n, Field(RecoveryFields.EarlierCallback(n, "outcome")), Time(RecoveryFields.EarlierCallback(n, "at")), Field(RecoveryFields.EarlierCallback(n, "detail"))))],
            StageTimes = StageTimesOf(fields),
        };
    }

    private static IReadOnlyDictionary<string, DateTimeOffset> StageTimesOf(IReadOnlyDictionary<string, string> fields)
    {
        Dictionary<string, DateTimeOffset>? times = null;
        foreach (var (name, value) in fields)
        {
            if (name.StartsWith(RecoveryFields.StagePrefix, StringComparison.Ordinal))
            {
                times ??= new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
                times[name[RecoveryFields.StagePrefix.Length..]] = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(value, CultureInfo.InvariantCulture));
            }
        }

        return times ?? NoStageTimes;
    }
}

/// <summary>
/// A recovery as read from the store: its fields, parsed, and the version they were read at. A move is written only
/// if the recovery is still at that version (no other move came between the read and the write).
/// </summary>
public sealed record StoredRecovery(IReadOnlyDictionary<string, string> Fields, long Version)
{
    public RecoveryRecord Record { get; } = RecoveryRecord.FromFields(Fields);

    /// <summary>As this replica last read or wrote it (<see cref="RecentRecoveries"/>), not read now: it may be behind.</summary>
    public bool Recent { get; init; }

    /// <summary>From a flat field/value list, as HGETALL returns it (a recovery stored before versions were written is at version 0).</summary>
    public static StoredRecovery FromFlatList(IReadOnlyList<string> fieldsAndValues)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < fieldsAndValues.Count; i += 2)
        {
            fields[fieldsAndValues[i]] = fieldsAndValues[i + 1];
        }

        return Of(fields);
    }

    /// <summary>From the fields as stored (a recovery stored before versions were written is at version 0).</summary>
    public static StoredRecovery Of(IReadOnlyDictionary<string, string> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        return new StoredRecovery(fields, long.TryParse(fields.GetValueOrDefault(RecoveryFields.Version), NumberStyles.Integer, CultureInfo.InvariantCulture, out var version) ? version : 0);
    }

    /// <summary>The recovery with <paramref name="writes"/> applied, one version on.</summary>
    public StoredRecovery With(IReadOnlyList<KeyValuePair<string, string>> writes)
    {
        // Sized for the writes too: copied at the size it had, the dictionary would grow (and copy) again at once.
        var fields = new Dictionary<string, string>(Fields.Count + writes.Count + 1, StringComparer.Ordinal);
        foreach (var (name, value) in Fields)
        {
            fields[name] = value;
        }

        foreach (var (name, value) in writes)
        {
            fields[name] = value;
        }

        fields[RecoveryFields.Version] = (Version + 1).ToString(CultureInfo.InvariantCulture);
        return new StoredRecovery(fields, Version + 1);
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
        // Only an id this service issued: its first part is the call id's UUID, so text a switch appends or invents
        // (a number, a SIP URI) is never taken for a call id, logged, traced or echoed.
        if (callId.Contains('{', StringComparison.Ordinal) || callId.Contains('}', StringComparison.Ordinal) || !string.Equals(For(callId), recoveryId, StringComparison.Ordinal))
        {
            callId = string.Empty;
            return false;
        }

        return true;
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
