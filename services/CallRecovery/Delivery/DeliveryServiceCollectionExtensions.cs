namespace CallRecovery.Delivery;

public static class DeliveryServiceCollectionExtensions
{
    /// <summary>The delivery stage: switch connections of this replica, scheduling, the effects of the lifecycle, and the dispatch and sweep loops.</summary>
    public static IServiceCollection AddDelivery(this IServiceCollection services)
    {
        services.AddSingleton<SwitchConnections>();
        services.AddSingleton<DispatchSignal>();
        services.AddSingleton<CallbackCommands>();
        services.AddSingleton<RecoveryScheduler>();
        services.AddHostedService<DispatchLoop>();
        return services;
    }
}
