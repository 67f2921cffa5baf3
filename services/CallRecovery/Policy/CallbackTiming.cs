using System.Collections.Frozen;
using CallRecovery.Contracts.V1;
using Microsoft.Extensions.Options;

namespace CallRecovery.Policy;

/// <summary>
/// When a callback may be placed, from configuration alone: which drops wait for the customer's coverage, which
/// outcomes are tried again, and when a customer's quiet hours end. Pure: the caller gives the time.
/// </summary>
public sealed class CallbackTiming
{
    private readonly FrozenSet<string> _waitCauses;
    private readonly FrozenSet<Outcome> _retryOutcomes;
    private readonly IReadOnlyList<string> _retryFailureCauses;
    private readonly QuietHoursOptions _quiet;
    private readonly KeyValuePair<string, TimeZoneInfo>[] _zones;
    private readonly TimeZoneInfo _defaultZone;

    public CallbackTiming(IOptions<ClassificationOptions> classification, IOptions<RetryOptions> retries, IOptions<QuietHoursOptions> quiet)
    {
        _waitCauses = classification.Value.WaitForReachability
            ? classification.Value.EffectiveWaitForReachabilityCauses.Select(DropClassifier.NormalizeCause).ToFrozenSet(StringComparer.Ordinal)
            : FrozenSet<string>.Empty;
        _retryOutcomes = retries.Value.EffectiveOutcomes.Select(o => Enum.Parse<Outcome>(o, ignoreCase: true))
            .Where(o => o is not (Outcome.CustomerDeclined or Outcome.Reconnected)).ToFrozenSet();
        _retryFailureCauses = [.. retries.Value.EffectiveFailureCauses.Select(c => c.Trim().ToLowerInvariant())];
        MaxCallbackAttempts = retries.Value.MaxCallbackAttempts;
        RetryGap = retries.Value.Gap;
        _quiet = quiet.Value;
        _zones = [.. quiet.Value.EffectiveTimeZones.OrderByDescending(z => z.Key.Length).Select(z => KeyValuePair.Create(z.Key, TimeZoneInfo.FindSystemTimeZoneById(z.Value)))];
        _defaultZone = TimeZoneInfo.FindSystemTimeZoneById(quiet.Value.DefaultTimeZone);
    }

    public int MaxCallbackAttempts { get; }

    public TimeSpan RetryGap { get; }

    /// <summary>
    /// Does this drop's callback wait for the customer to be reachable: a radio-loss cause (the table), and the
    /// customer is the party whose leg dropped, or the report does not say whose did.
    /// </summary>
    public bool WaitsForReachability(CallDrop drop, string callBack) =>
        _waitCauses.Contains(drop.Cause.Value)
        && drop.DroppedParty switch
        {
            Party.Caller => callBack == drop.Caller,
            Party.Callee => callBack == drop.Callee,
            _ => true,
        };

    /// <summary>Is this outcome of a callback worth another one (no answer, busy, a passing failure)? A decline never is.</summary>
    public bool IsRetryable(Outcome outcome, string failureCause) =>
        MaxCallbackAttempts > 1
        && (_retryOutcomes.Contains(outcome)
            || (outcome == Outcome.Failed && _retryFailureCauses.Any(c => failureCause.StartsWith(c, StringComparison.OrdinalIgnoreCase))));

    /// <summary>When the quiet hours that <paramref name="at"/> falls in end for this number (local time), or null when it falls outside them.</summary>
    public DateTimeOffset? QuietUntil(string number, DateTimeOffset at)
    {
        if (!_quiet.Enabled || _quiet.Start == _quiet.End)
        {
            return null;
        }

        var zone = ZoneOf(number);
        var local = TimeZoneInfo.ConvertTime(at, zone);
        var clock = TimeOnly.FromDateTime(local.DateTime);
        var overMidnight = _quiet.Start > _quiet.End;
        var quiet = overMidnight ? clock >= _quiet.Start || clock < _quiet.End : clock >= _quiet.Start && clock < _quiet.End;
        if (!quiet)
        {
            return null;
        }

        var endDay = DateOnly.FromDateTime(local.DateTime);
        if (overMidnight && clock >= _quiet.Start)
        {
            endDay = endDay.AddDays(1);
        }

        var end = endDay.ToDateTime(_quiet.End, DateTimeKind.Unspecified);
        if (zone.IsInvalidTime(end))
        {
            // The clocks jump over the end (a daylight-saving change at that hour): the first minute after the jump.
            end = end.AddHours(1);
        }

        return new DateTimeOffset(end, zone.GetUtcOffset(end)).ToUniversalTime();
    }

    /// <summary>The number's time zone: the longest matching prefix of the table, else the default.</summary>
    public TimeZoneInfo ZoneOf(string number)
    {
        foreach (var (prefix, zone) in _zones)
        {
            if (number.StartsWith(prefix, StringComparison.Ordinal))
            {
                return zone;
            }
        }

        return _defaultZone;
    }

    /// <summary>Null when the zone id is one this machine's time zone database knows.</summary>
    public static string? ValidateZone(string id)
    {
        try
        {
            _ = TimeZoneInfo.FindSystemTimeZoneById(id);
            return null;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return $"'{id}' is not an IANA time zone this machine knows";
        }
    }
}
