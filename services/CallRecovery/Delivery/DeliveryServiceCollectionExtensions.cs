using CallRecovery.Recoveries;

namespace CallRecovery.Delivery;

public static class DeliveryServiceCollectionExtensions
{
    /// <summary>The delivery stage: switch queues and cancels in Redis, this replica's switch connections, the lifecycle's effects port, and the dispatch and sweep loops.</summary>
    public static IServiceCollection AddDelivery(this IServiceCollection services)
    {
        services.AddSingleton<SwitchQueues>();
        services.AddSingleton<SwitchConnections>();
        services.AddSingleton<SwitchCancels>();
        services.AddSingleton<DispatchSignal>();
        services.AddSingleton<DispatchPause>();
        services.AddHealthChecks().AddCheck<DispatchPause>("callbacks", tags: [Probes.ProbesServiceCollectionExtensions.ReadyTag]);
        services.AddSingleton<CallbackCommands>();
        services.AddSingleton<LifecycleEffects>();
        services.AddSingleton<IRecoveryEffects>(provider => provider.GetRequiredService<LifecycleEffects>());
        services.AddHostedService<DispatchLoop>();
        return services;
    }
}
