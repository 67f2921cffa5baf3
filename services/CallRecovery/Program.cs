using CallRecovery.Decisions;
using CallRecovery.Ingest;
using CallRecovery.Lookup;
using CallRecovery.Observability;
using CallRecovery.Store;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

// The data flow, top to bottom: Kafka -> decide -> Redis.
var builder = WebApplication.CreateBuilder(args);
builder.Services
    .AddObservability()
    .AddDecisions()
    .AddRecoveryStore()
    .AddIngest();

var app = builder.Build();
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
app.MapCallLookup();
app.Run();

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
