using CallRecovery.Contracts.V1;

namespace CallRecovery.Policy;

/// <summary>A call-drop report that passed validation: every field the decision needs, in .NET types.</summary>
public sealed record CallDrop(
    string EventId,
    string CallId,
    string Caller,
    string Callee,
    Party DroppedParty,
    ReleaseCauseKey Cause,
    DateTimeOffset? AnswerTime,
    DateTimeOffset DropTime,
    string ServingCell,
    string SwitchingNode,
    AccessTechnology AccessTechnology,
    bool Emergency,
    string Reporter)
{
    public TimeSpan? AnsweredDuration => AnswerTime is { } answered ? DropTime - answered : null;

    /// <summary>W3C trace context of the span that processed this report; a recovery's trace continues from it.</summary>
    public string TraceParent { get; init; } = string.Empty;

    /// <summary>The operator's own systems flag the customer to call back as vulnerable: their callback goes first.</summary>
    public bool Vulnerable { get; init; }
}

/// <summary>A release cause as "protocol:code" (q850:41) or "protocol:name" (radio:radio-connection-with-ue-lost).</summary>
public readonly record struct ReleaseCauseKey(string Value)
{
    public static ReleaseCauseKey From(ReleaseCause cause)
    {
        var protocol = cause.Protocol switch
        {
            CauseProtocol.Q850 => "q850",
            CauseProtocol.Sip => "sip",
            CauseProtocol.SipReleaseCause => "sip-release-cause",
            CauseProtocol.Radio => "radio",
            CauseProtocol.DiameterRx => "rx",
            CauseProtocol.Cdr => "cdr",
            _ => "unspecified",
        };
        var value = cause.Protocol == CauseProtocol.Radio || (cause.Code == 0 && cause.Name.Length > 0)
            ? Normalize(cause.Name)
            : cause.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new ReleaseCauseKey($"{protocol}:{value}");
    }

    /// <summary>"Radio Connection With UE Lost" and "radio_connection_with_ue_lost" both become "radio-connection-with-ue-lost".</summary>
    public static string Normalize(string text) =>
        string.Join('-', text.Trim().ToLowerInvariant().Split([' ', '_', '-'], StringSplitOptions.RemoveEmptyEntries));

    public override string ToString() => Value;
}
