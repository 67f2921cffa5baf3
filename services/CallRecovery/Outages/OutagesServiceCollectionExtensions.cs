using CallRecovery.Observability;

namespace CallRecovery.Outages;

public static class OutagesServiceCollectionExtensions
{
    /// <summary>The storm guard: outage incidents per cell and switching node, and their gauges.</summary>
    public static IServiceCollection AddOutages(this IServiceCollection services)
    {
        services.AddSingleton(provider =>
        {
            var guard = ActivatorUtilities.CreateInstance<OutageGuard>(provider);
            var meter = provider.GetRequiredService<CallRecoveryTelemetry>().Meter;
            // As of the last sweep (every replica reads the same incidents from Redis).
            meter.CreateObservableGauge("callrecovery.outage.open_incidents", () => guard.Gauges.Open, "{incident}", "Outage incidents declared and not yet ended.");
            meter.CreateObservableGauge("callrecovery.outage.held_recoveries", () => guard.Gauges.Held, "{recovery}", "Recoveries held by open outage incidents.");
            return guard;
        });
        return services;
    }
}
