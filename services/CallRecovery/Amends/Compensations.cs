using System.Globalization;
using CallRecovery.Contracts.V1;
using CallRecovery.Observability;
using CallRecovery.Outcomes;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.Amends;

/// <summary>
/// Makes amends for a recovery that ended without the reconnect the customer chose: one compensation event per
/// recovery (an apology in the customer's language, and the outcome's credit while the customer's daily cap allows),
/// written to the switch's outbox beside the outcome and published from there to <c>Kafka:CompensationTopic</c>.
/// Once per recovery however often its end is carried out (replays, a retried effect, two replicas): the credit is
/// granted once per recovery against the day's cap, and the event is written once, with a marker, by one script.
/// </summary>
public sealed partial class Compensations(
    IConnectionMultiplexer redis,
    IOptions<RedisOptions> redisOptions,
    OutcomePublisher outcomes,
    IOptions<CompensationOptions> options,
    SwitchRouter router,
    CallbackTiming timing,
    CallRecoveryTelemetry telemetry,
    ILogger<Compensations> logger)
{
    private static readonly RedisScript CreditScript = LuaResources.Load("credit.lua");

    /// <summary>A customer's credits of a day are kept two days (a day in every time zone has ended by then).</summary>
    private static readonly TimeSpan CreditsKept = TimeSpan.FromDays(2);

    private readonly CompensationKeys _keys = CompensationKeys.For(redisOptions.Value);

    // Recoveries end together (a switch's reports come in bursts): their credits go as many-runs, not one EVALSHA each.
    private readonly ScriptBatcher _credits = new(() => redis.GetDatabase(), CreditScript);
    private readonly CompensationOptions _options = options.Value;

    /// <summary>Whether a recovery that ended so is compensated: every end without a reconnect, but a customer's choice or a cancel.</summary>
    public static bool IsOwed(Outcome outcome) => outcome is Outcome.NoAnswer or Outcome.Busy or Outcome.OtherPartyUnreachable or Outcome.Failed
        or Outcome.Expired or Outcome.OutageNotRecovered or Outcome.CustomerUnreachable or Outcome.QuietHours or Outcome.NoReport;

    /// <summary>Outcomes as published and configured ("NO_ANSWER"), from the proto's own names.</summary>
    private static readonly Dictionary<Outcome, string> WireNames = SwitchingReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.EnumDescriptor>(nameof(Outcome)).Values
        .ToDictionary(v => (Outcome)v.Number, v => v.Name.StartsWith("OUTCOME_", StringComparison.Ordinal) ? v.Name["OUTCOME_".Length..] : v.Name);

    /// <summary>Whether a configured outcome name ("NO_ANSWER") is one that is compensated.</summary>
    public static bool IsOwedName(string name) => WireNames.Any(o => IsOwed(o.Key) && o.Value == name);

    /// <summary>An outcome as published and configured: "NO_ANSWER".</summary>
    public static string WireName(Outcome outcome) => WireNames.TryGetValue(outcome, out var name) ? name : outcome.ToString();

    /// <summary>Compensates a recovery that ended with <paramref name="outcome"/>, if it is owed and not compensated yet.</summary>
    public async Task CompensateAsync(RecoveryRecord recovery, Outcome outcome, string traceParent)
    {
        ArgumentNullException.ThrowIfNull(recovery);
        // A shadow recovery called nobody: nothing to make amends for.
        if (!_options.Enabled || recovery.Shadow || !IsOwed(outcome))
        {
            return;
        }

        var wire = WireName(outcome);
        var credit = _options.Credits.TryGetValue(wire, out var configured) ? configured : _options.DefaultCredit;
        var day = TimeZoneInfo.ConvertTime(recovery.DropTime, timing.ZoneOf(recovery.CallBack)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var granted = (RedisResult[])(await _credits.EvaluateAsync([_keys.Credits(recovery.CallBack, day)],
            [recovery.RecoveryId, _options.DailyCreditCap, credit.IsNone ? 0 : 1, (long)CreditsKept.TotalMilliseconds]).ConfigureAwait(false))!;
        var (credited, today) = ((long)granted[0] == 1, (uint)(long)granted[1]);

        var compensation = new Contracts.V1.Compensation
        {
            CompensationId = recovery.RecoveryId,
            RecoveryId = recovery.RecoveryId,
            CallId = recovery.CallId,
            Customer = recovery.CallBack,
            DropTime = Timestamp.FromDateTimeOffset(recovery.DropTime),
            At = Timestamp.FromDateTimeOffset(recovery.CompletedAt ?? recovery.DueAt),
            Outcome = outcome,
            Apology = new Apology
            {
                TemplateId = _options.Templates.TryGetValue(wire, out var template) ? template : "apology-" + wire.ToLowerInvariant().Replace('_', '-'),
                Language = router.LanguageFor(recovery.CallBack),
                Channel = _options.Channel,
            },
            Capped = !credit.IsNone && !credited,
            CreditsToday = today,
            ChargingReference = recovery.RecoveryId,
        };
        if (credited)
        {
            compensation.Credit = credit.FreeMinutes > 0
                ? new Credit { FreeMinutes = (uint)credit.FreeMinutes }
                : new Credit { Amount = new Money { Currency = credit.Currency, MinorUnits = credit.MinorUnits } };
        }

        var written = await outcomes.PublishOnceAsync(recovery, OutcomePublisher.CompensationKind, Marker(recovery), compensation.ToByteArray(), traceParent).ConfigureAwait(false);
        if (written)
        {
            var given = CreditText(compensation);
            telemetry.Compensated(wire, credited ? "credited" : compensation.Capped ? "capped" : "none");
            using var span = recovery.StartSpan(OutcomePublisher.CompensationKind);
            span?.SetTag(RecoveryTracing.Outcome, outcome.ToString()).SetTag(RecoveryTracing.CompensationTemplate, compensation.Apology.TemplateId).SetTag(RecoveryTracing.CompensationCredit, given);
            LogCompensated(recovery.RecoveryId, outcome, compensation.Apology.TemplateId, given);
        }
    }

    /// <summary>The compensation written for a recovery, if any (for the lookup).</summary>
    public async Task<Contracts.V1.Compensation?> ReadAsync(RecoveryRecord recovery)
    {
        ArgumentNullException.ThrowIfNull(recovery);
        var stored = await outcomes.ReadOnceAsync(recovery.SwitchId, Marker(recovery)).ConfigureAwait(false);
        return stored is null ? null : Contracts.V1.Compensation.Parser.ParseFrom(stored);
    }

    private static string Marker(RecoveryRecord recovery) => "compensation:" + recovery.RecoveryId;

    /// <summary>The credit in words: "5 free minutes", "INR 100 (minor units)", "none (daily cap reached)", "none".</summary>
    public static string CreditText(Contracts.V1.Compensation compensation)
    {
        ArgumentNullException.ThrowIfNull(compensation);
        return compensation.Credit?.KindCase switch
        {
            Credit.KindOneofCase.FreeMinutes => $"{compensation.Credit.FreeMinutes} free minutes",
            Credit.KindOneofCase.Amount => $"{compensation.Credit.Amount.MinorUnits} {compensation.Credit.Amount.Currency} (minor units)",
            _ => compensation.Capped ? $"none (daily cap reached: {compensation.CreditsToday} today)" : "none",
        };
    }

    [LoggerMessage(EventId = 3401, Level = LogLevel.Information, Message = "Recovery {RecoveryId} ended {Outcome}: compensation {Template}, credit {Credit}")]
    private partial void LogCompensated(string recoveryId, Outcome outcome, string template, string credit);
}
