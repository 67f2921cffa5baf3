using StackExchange.Redis;
using Microsoft.Extensions.Options;

namespace CallRecovery.Store;

public static class StoreServiceCollectionExtensions
{
    /// <summary>Redis: one shared multiplexer, the decision store and its health check.</summary>
    public static IServiceCollection AddRecoveryStore(this IServiceCollection services)
    {
        services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var configuration = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<RedisOptions>>().Value.ConnectionString);
            // Start even when Redis is down: the service reports not ready and keeps trying.
            configuration.AbortOnConnectFail = false;
            configuration.ClientName ??= "callrecovery";
            return ConnectionMultiplexer.Connect(configuration);
        });
        services.AddSingleton<DecisionStore>();
        services.AddSingleton<Recoveries.RecoveryStore>();
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return services;
    }
}
