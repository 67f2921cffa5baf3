using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CallRecovery.Decisions;

public static class DecisionsServiceCollectionExtensions
{
    /// <summary>Classification and policy options (validated at start) and the decider.</summary>
    public static IServiceCollection AddDecisions(this IServiceCollection services)
    {
        services.AddOptions<ClassificationOptions>().BindConfiguration(ClassificationOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.EffectiveDropCauses.All(c => DropClassifier.ValidateCause(c) is null),
                "Classification:DropCauses entries must be 'protocol:code' with protocol one of q850, sip, sip-release-cause, radio, rx, cdr (e.g. q850:41).")
            .Validate(o => o.EffectiveExcludedDestinationPrefixes.All(p => p.StartsWith('+') && p.Length > 1),
                "Classification:ExcludedDestinationPrefixes entries must be E.164 prefixes starting with '+'.")
            .ValidateOnStart();
        services.AddOptions<RecoveryPolicyOptions>().BindConfiguration(RecoveryPolicyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DropClassifier>();
        services.AddSingleton<RecoveryDecider>();
        return services;
    }
}
