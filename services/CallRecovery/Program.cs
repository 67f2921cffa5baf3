using CallRecovery;
using CallRecovery.Decisions;
using CallRecovery.Dispatch;
using CallRecovery.Liveness;
using CallRecovery.Ingest;
using CallRecovery.Lookup;
using CallRecovery.Observability;
using CallRecovery.Outcomes;
using CallRecovery.Store;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

// The data flow, top to bottom: Kafka -> decide -> Redis -> dispatch to the switch -> outcome -> Kafka.
var builder = WebApplication.CreateBuilder(args);
builder.Services
    .AddObservability()
    .AddLoopSupervision()
    .AddIngest()
    .AddDecisions()
    .AddRecoveryStore()
    .AddDispatch()
    .AddOutcomes();

var app = builder.BuildWithValidConfiguration();
if (app is null)
{
    return 2;
}

app.MapGrpcService<SwitchingService>();
app.MapGrpcService<RecoveryLookupService>();
app.MapGrpcHealthChecksService();
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = check => check.Tags.Contains(HealthServiceCollectionExtensions.LiveTag) });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
app.MapPrometheusScrapingEndpoint();
app.MapCallLookup();
app.Run();
return 0;

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
