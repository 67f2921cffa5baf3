using CallRecovery.Amends;
using CallRecovery.Decisions;
using CallRecovery.Hosting;
using CallRecovery.Delivery;
using CallRecovery.HttpApi;
using CallRecovery.Ingest;
using CallRecovery.Kafka;
using CallRecovery.Lookup;
using CallRecovery.Observability;
using CallRecovery.Outages;
using CallRecovery.Outcomes;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using CallRecovery.Security;
using CallRecovery.Subscribers;
using CallRecovery.SwitchApi;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

// Dependencies point one way: the edges (Kafka ingest, the switch API, the HTTP API) call the stages (decide,
// deliver, publish outcomes, look up), which call the recovery lifecycle and its store; pure policy and the
// infrastructure (Redis, Kafka, telemetry, probes) depend on none of them.
var builder = WebApplication.CreateBuilder(args).WithSettingsBesideTheService().WithRolloutFile();
builder.Services
    .AddClock(builder.Configuration)
    .AddObservability()
    .AddSecurity()
    .AddProbes()
    .AddRedis()
    .AddKafka()
    .AddPolicy()
    .AddRecoveries()
    .AddSubscribers()
    .AddOutages()
    .AddDecisions()
    .AddOutcomes()
    .AddCompensation()
    .AddDelivery()
    .AddLookup()
    .AddIngest()
    .AddSwitchApi();

var app = builder.BuildWithValidConfiguration();
if (app is null)
{
    return 2;
}

if (!app.UsesBundledLibrdkafka())
{
    return 3;
}

// Each port serves only what it is for (Security/Listeners): the switching port the gRPC services, the HTTP
// port the API (behind its scopes), health and metrics.
app.MapGrpcService<SwitchingService>().ServedOn(Listeners.Switching);
app.MapGrpcService<RecoveryLookupService>().ServedOn(Listeners.Switching);
app.MapGrpcHealthChecksService().ServedOn(Listeners.Switching);
app.MapGrpcReflectionService().ServedOn(Listeners.Switching);
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ProbesServiceCollectionExtensions.LiveTag), ResponseWriter = HealthText.WriteAsync }).ServedOn(Listeners.Http);
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ProbesServiceCollectionExtensions.ReadyTag), ResponseWriter = HealthText.WriteAsync }).ServedOn(Listeners.Http);
app.MapPrometheusScrapingEndpoint().ServedOn(Listeners.Http);
app.MapCallLookup();
app.MapRollout();
app.MapRecoveries();
app.MapVulnerable();
app.WarnWhenTheApiIsUnauthenticated();
app.WarnWhenTheSwitchingPortIsInsecure();
app.Run();
return 0;

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
