using CallRecovery.Contracts.V1;
using Microsoft.Extensions.Options;

namespace CallRecovery.Policy;

/// <summary>
/// The part of a decision that needs nothing but the event and configuration: is this a network drop
/// worth recovering, and whom would we call back. A pure function; Redis adds duplicates, limits and opt-outs.
/// </summary>
public sealed class DropClassifier
{
    private readonly HashSet<string> _dropCauses;
    private readonly HashSet<string> _emergencyNumbers;
    private readonly IReadOnlyList<string> _excludedPrefixes;
    private readonly TimeSpan _minimumAnswered;
    private readonly CallbackParty _callBack;

    public DropClassifier(IOptions<ClassificationOptions> classification, IOptions<RecoveryPolicyOptions> policy)
    {
        var options = classification.Value;
        _dropCauses = new HashSet<string>(options.EffectiveDropCauses.Select(NormalizeCause), StringComparer.Ordinal);
        _emergencyNumbers = new HashSet<string>(options.EffectiveEmergencyNumbers, StringComparer.Ordinal);
        _excludedPrefixes = options.EffectiveExcludedDestinationPrefixes;
        _minimumAnswered = options.MinimumAnsweredDuration;
        _callBack = policy.Value.CallBack;
    }

    /// <summary>A number of the emergency services (Classification:EmergencyNumbers).</summary>
    public bool IsEmergencyNumber(string number) => _emergencyNumbers.Contains(number);

    /// <summary>
    /// Who must be protected after a call between these two parties, if it was an emergency call: the person who
    /// called the emergency services (flagged by the network, or dialled an emergency number), or the person an
    /// emergency centre called back. Null when the call was not an emergency call.
    /// </summary>
    public string? ProtectedParty(string caller, string callee, bool emergencyFlag)
    {
        if (_emergencyNumbers.Contains(caller))
        {
            return callee;
        }

        return emergencyFlag || _emergencyNumbers.Contains(callee) ? caller : null;
    }

    public Classification Classify(CallDrop drop)
    {
        if (drop.Emergency || _emergencyNumbers.Contains(drop.Callee) || _emergencyNumbers.Contains(drop.Caller))
        {
            return Classification.Suppress(DecisionReason.ExcludedDestination, "emergency call");
        }

        if (drop.AnsweredDuration is not { } answered)
        {
            return Classification.Suppress(DecisionReason.NeverAnswered, "the call was never answered");
        }

        if (!_dropCauses.Contains(drop.Cause.Value))
        {
            return Classification.Suppress(DecisionReason.NormalClearing, $"cause {drop.Cause} is not a network drop");
        }

        if (answered < _minimumAnswered)
        {
            return Classification.Suppress(DecisionReason.TooShort, $"answered {answered.TotalSeconds:0.#} s, minimum {_minimumAnswered.TotalSeconds:0.#} s");
        }

        foreach (var number in (ReadOnlySpan<string>)[drop.Caller, drop.Callee])
        {
            if (!PhoneNumbers.IsE164(number))
            {
                return Classification.Suppress(DecisionReason.ExcludedDestination, "short code");
            }

            foreach (var prefix in _excludedPrefixes)
            {
                if (number.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return Classification.Suppress(DecisionReason.ExcludedDestination, $"excluded prefix {prefix}");
                }
            }
        }

        var callBackCallee = _callBack == CallbackParty.Callee
            || (_callBack == CallbackParty.DroppedParty && drop.DroppedParty == Party.Callee);
        return callBackCallee
            ? Classification.Candidate(callBack: drop.Callee, otherParty: drop.Caller)
            : Classification.Candidate(callBack: drop.Caller, otherParty: drop.Callee);
    }

    /// <summary>Validates one configured cause entry; null when it is well formed.</summary>
    public static string? ValidateCause(string cause)
    {
        var parts = cause.Split(':', 2);
        string[] protocols = ["q850", "sip", "sip-release-cause", "radio", "rx", "cdr"];
        if (parts.Length != 2 || !protocols.Contains(parts[0].Trim().ToLowerInvariant()) || parts[1].Trim().Length == 0)
        {
            return $"'{cause}' is not 'protocol:code' with protocol one of {string.Join(", ", protocols)}";
        }

        return null;
    }

    /// <summary>A configured cause as events' causes are written ("Radio Connection_with UE lost" as radio:radio-connection-with-ue-lost).</summary>
    public static string NormalizeCause(string cause)
    {
        var parts = cause.Split(':', 2);
        return $"{parts[0].Trim().ToLowerInvariant()}:{ReleaseCauseKey.Normalize(parts[1])}";
    }
}

/// <summary>The classifier's verdict: a candidate for recovery (Redis decides the rest) or a suppression with its reason.</summary>
public sealed record Classification(DecisionReason Reason, string Detail, string CallBack, string OtherParty)
{
    public bool IsCandidate => Reason == DecisionReason.Accepted;

    public static Classification Suppress(DecisionReason reason, string detail) => new(reason, detail, string.Empty, string.Empty);

    public static Classification Candidate(string callBack, string otherParty) => new(DecisionReason.Accepted, string.Empty, callBack, otherParty);
}
