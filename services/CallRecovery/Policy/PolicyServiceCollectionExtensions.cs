using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CallRecovery.Policy;

public static class PolicyServiceCollectionExtensions
{
    /// <summary>What the service decides from configuration alone: drop classification, subscriber policy, routing and timing (options validated at start).</summary>
    public static IServiceCollection AddPolicy(this IServiceCollection services)
    {
        services.AddOptions<ClassificationOptions>().BindConfiguration(ClassificationOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.EffectiveDropCauses.All(c => DropClassifier.ValidateCause(c) is null),
                "Classification:DropCauses entries must be 'protocol:code' with protocol one of q850, sip, sip-release-cause, radio, rx, cdr (e.g. q850:41).")
            .Validate(o => o.EffectiveWaitForReachabilityCauses.All(c => DropClassifier.ValidateCause(c) is null),
                "Classification:WaitForReachabilityCauses entries must be 'protocol:code' with protocol one of q850, sip, sip-release-cause, radio, rx, cdr (e.g. radio:radio-connection-with-ue-lost).")
            .Validate(o => o.EffectiveExcludedDestinationPrefixes.All(p => p.StartsWith('+') && p.Length > 1),
                "Classification:ExcludedDestinationPrefixes entries must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.AddOptions<RecoveryPolicyOptions>().BindConfiguration(RecoveryPolicyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SwitchingOptions>().BindConfiguration(SwitchingOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Routes.Values.All(SwitchIds.IsValid), "Switching:Routes values must be switch ids: 1-64 letters, digits, '.', '_' or '-'.")
            .Validate(o => o.CallbackDeadline > o.GracePeriod, "Switching:CallbackDeadline must be longer than Switching:GracePeriod.")
            .Validate(o => !o.LearnedGrace.Enabled || (o.LearnedGrace.Min <= o.LearnedGrace.Max && o.LearnedGrace.Max < o.CallbackDeadline),
                "Switching:LearnedGrace:Min must not exceed :Max, and :Max must be shorter than Switching:CallbackDeadline.")
            .Validate(o => Validator.TryValidateObject(o.LearnedGrace, new ValidationContext(o.LearnedGrace), null, validateAllProperties: true),
                "Switching:LearnedGrace values are out of range (Min/Max 0-10 min, Coverage 0.5-1, RareShare 0-1, MinDrops >= 1, Memory >= 10, Refresh <= 1 h).")
            .Validate(o => o.AllowInsecure || File.Exists(o.ClientCertificateAuthorityPath),
                "The switching port requires client certificates: set Switching:ClientCertificateAuthorityPath to a PEM file of the CA that signs switch certificates (and serve Kestrel:Endpoints:Switching over https with the service's certificate), or, on a laptop only, Switching:AllowInsecure=true.")
            .Validate(o => !o.AllowInsecureOnNetwork || o.AllowInsecure, "Switching:AllowInsecureOnNetwork only means something with Switching:AllowInsecure=true.")
            .Validate(o => o.CertificateSwitches.Values.All(ids => ids.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } list && list.All(SwitchIds.IsValid)),
                "Switching:CertificateSwitches values must be space-separated switch ids.")
            .Validate(o => o.LookupClients.Values.All(scopes => scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length > 0), "Switching:LookupClients values must be space-separated scopes (calls:read subscribers:read).")
            .Validate(o => o.MinAdmissionRates.All(r => SwitchIds.IsValid(r.Key) && r.Value >= 0), "Switching:MinAdmissionRates keys must be switch ids and values rates of 0 or more per second.")
            .Validate(o => string.IsNullOrWhiteSpace(o.ClientCertificateRevocationListPath) || File.Exists(o.ClientCertificateRevocationListPath),
                "Switching:ClientCertificateRevocationListPath must name a readable CRL file.")
            .Validate(o => o.AdmissionRates.All(r => SwitchIds.IsValid(r.Key) && r.Value >= 0), "Switching:AdmissionRates keys must be switch ids and values rates of 0 or more per second.")
            .Validate(o => o.Announcement.Languages.Keys.All(p => p.StartsWith('+')), "Switching:Announcement:Languages keys must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.AddOptions<RetryOptions>().BindConfiguration(RetryOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.EffectiveOutcomes.All(n => Enum.TryParse<Contracts.V1.Outcome>(n, ignoreCase: true, out var outcome) && outcome is Contracts.V1.Outcome.NoAnswer or Contracts.V1.Outcome.Busy or Contracts.V1.Outcome.Failed or Contracts.V1.Outcome.OtherPartyUnreachable),
                "Retries:Outcomes entries must be NoAnswer, Busy, Failed or OtherPartyUnreachable (a declined callback is never tried again).")
            .ValidateOnStart();
        services.AddOptions<QuietHoursOptions>().BindConfiguration(QuietHoursOptions.Section).ValidateDataAnnotations()
            .Validate(o => CallbackTiming.ValidateZone(o.DefaultTimeZone) is null && o.EffectiveTimeZones.Values.All(z => CallbackTiming.ValidateZone(z) is null),
                "QuietHours:DefaultTimeZone and QuietHours:TimeZones values must be IANA time zones (e.g. Europe/London).")
            .Validate(o => o.TimeZones.Keys.All(p => p.StartsWith('+') && p.Length > 1), "QuietHours:TimeZones keys must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.AddOptions<OutageOptions>().BindConfiguration(OutageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<CallbackTiming>();
        services.AddHostedService<QuietHoursCheck>();
        services.AddSingleton<DropClassifier>();
        services.AddSingleton<SwitchRouter>();
        services.AddOptions<RolloutOptions>().BindConfiguration(RolloutOptions.Section)
            .Validate(o => Enum.IsDefined(o.Mode), "Rollout:Mode must be Live or Shadow.")
            .Validate(o => o.Canary.Percent is >= 0 and <= 100, "Rollout:Canary:Percent must be 0-100.")
            .ValidateOnStart();
        services.AddSingleton<RolloutPolicy>();
        return services;
    }
}
