using System.Diagnostics.Metrics;
using CallRecovery.Observability;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.Redis;

public static class RedisServiceCollectionExtensions
{
    /// <summary>The multiplexer of the decision stage's bulk rounds (<c>[FromKeyedServices(RedisServiceCollectionExtensions.Decisions)]</c>).</summary>
    public const string Decisions = "decisions";

    /// <summary>
    /// Redis: options, the shared multiplexer and its health check. The stores belong to their stages. Deciding a
    /// backlog sends thousands of pipelined scripts a round; they go on a multiplexer of their own, so Redis serves
    /// the switches' acknowledgements, reports and dispatch side by side with them instead of behind them.
    /// </summary>
    public static IServiceCollection AddRedis(this IServiceCollection services)
    {
        services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var redis = Connect(sp, "callrecovery");
            // Operations sent: what Redis's one thread reads and answers one by one (a script's own commands and a
            // many-run's calls ride in one), per multiplexer: named by its role, not its client name (a connection
            // string may give both the same one).
            sp.GetRequiredService<CallRecoveryTelemetry>().Meter.CreateObservableCounter("callrecovery.redis.operations", () => (Measurement<long>[])
                [
                    new(redis.OperationCount, new KeyValuePair<string, object?>("redis.client", "callrecovery")),
                    new(sp.GetRequiredKeyedService<IConnectionMultiplexer>(Decisions).OperationCount, new KeyValuePair<string, object?>("redis.client", "callrecovery-decisions")),
                ],
                "{operation}", "Commands and script calls sent to Redis, per multiplexer (the decision stage's bulk rounds go on their own).");
            return redis;
        });
        services.AddKeyedSingleton<IConnectionMultiplexer>(Decisions, (sp, _) => Connect(sp, "callrecovery-decisions"));
        services.AddSingleton<DurabilityBarrier>();
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: [Probes.ProbesServiceCollectionExtensions.ReadyTag]);
        return services;
    }

    private static ConnectionMultiplexer Connect(IServiceProvider services, string clientName) =>
        Connect(services.GetRequiredService<IOptions<RedisOptions>>().Value, clientName);

    /// <summary>A multiplexer as the service makes them (admin commands such as CONFIG GET only when asked for).</summary>
    internal static ConnectionMultiplexer Connect(RedisOptions options, string clientName, bool allowAdmin = false)
    {
        var configuration = ConfigurationOptions.Parse(options.ConnectionString);
        // Start even when Redis is down: the service reports not ready and keeps trying.
        configuration.AbortOnConnectFail = false;
        configuration.ClientName ??= clientName;
        configuration.AllowAdmin = allowAdmin;
        // Key names carry subscriber numbers: exception messages (which get logged) name no keys, values or counters.
        configuration.IncludeDetailInExceptions = false;
        configuration.IncludePerformanceCountersInExceptions = false;
        return ConnectionMultiplexer.Connect(configuration);
    }
}
