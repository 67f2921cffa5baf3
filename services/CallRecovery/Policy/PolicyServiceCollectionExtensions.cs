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
            .Validate(o => o.EffectiveExcludedDestinationPrefixes.All(p => p.StartsWith('+') && p.Length > 1),
                "Classification:ExcludedDestinationPrefixes entries must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.AddOptions<RecoveryPolicyOptions>().BindConfiguration(RecoveryPolicyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SwitchingOptions>().BindConfiguration(SwitchingOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Routes.Values.All(SwitchIds.IsValid), "Switching:Routes values must be switch ids: 1-64 letters, digits, '.', '_' or '-'.")
            .Validate(o => o.CallbackDeadline > o.GracePeriod, "Switching:CallbackDeadline must be longer than Switching:GracePeriod.")
            .Validate(o => !o.RequireClientCertificate || File.Exists(o.ClientCertificateAuthorityPath),
                "Switching:RequireClientCertificate needs Switching:ClientCertificateAuthorityPath, a PEM file of the CA that signs switch certificates.")
            .Validate(o => string.IsNullOrWhiteSpace(o.ClientCertificateRevocationListPath) || File.Exists(o.ClientCertificateRevocationListPath),
                "Switching:ClientCertificateRevocationListPath must name a readable CRL file.")
            .Validate(o => o.Announcement.Languages.Keys.All(p => p.StartsWith('+')), "Switching:Announcement:Languages keys must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DropClassifier>();
        services.AddSingleton<SwitchRouter>();
        return services;
    }
}
