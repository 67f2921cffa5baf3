namespace CallRecovery.Subscribers;

public static class SubscribersServiceCollectionExtensions
{
    /// <summary>What we know about subscribers (opt-outs, emergency calls, reachability, connections, their calls), in Redis.</summary>
    public static IServiceCollection AddSubscribers(this IServiceCollection services)
    {
        services.AddSingleton<SubscriberFacts>();
        return services;
    }
}
