using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Redis;

public static class RedisServiceCollectionExtensions
{
    /// <summary>Redis: options, one shared multiplexer and its health check. The stores belong to their stages.</summary>
    public static IServiceCollection AddRedis(this IServiceCollection services)
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
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return services;
    }
}
