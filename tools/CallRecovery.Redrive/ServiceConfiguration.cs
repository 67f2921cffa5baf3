using CallRecovery.Hosting;
using CallRecovery.Ingest;
using CallRecovery.Kafka;
using CallRecovery.Policy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallRecovery.Redrive;

/// <summary>
/// The service's configuration as the service itself reads and validates it (appsettings.json, then
/// appsettings.{environment}.json, then environment variables with ':' written '__'), bound by the service's own
/// registrations: its Kafka options and client settings, its event validation, its clock.
/// </summary>
internal sealed class ServiceConfiguration : IDisposable
{
    private readonly ServiceProvider _services;

    private ServiceConfiguration(ServiceProvider services, TimeSpan callbackDeadline)
    {
        _services = services;
        Kafka = services.GetRequiredService<IOptions<KafkaOptions>>().Value;
        Validation = services.GetRequiredService<IOptions<EventValidationOptions>>().Value;
        Time = services.GetRequiredService<TimeProvider>();
        CallbackDeadline = callbackDeadline;
        Redrive = new DeadLetterRedrive(services.GetRequiredService<NetworkEventReader>(), Time, callbackDeadline);
    }

    public KafkaOptions Kafka { get; }

    public EventValidationOptions Validation { get; }

    /// <summary>The service's clock (the system's, or a test's shifted one).</summary>
    public TimeProvider Time { get; }

    /// <summary>Switching:CallbackDeadline: a drop redriven later than this after it happened is decided stale (no callback).</summary>
    public TimeSpan CallbackDeadline { get; }

    /// <summary>The dead letters judged by the service's own reader, under the configuration in force.</summary>
    public DeadLetterRedrive Redrive { get; }

    /// <summary>
    /// As the service reads it: appsettings.json from the working directory or, when it has none, beside this tool (the
    /// service's own, copied with it); the environment's file; <paramref name="files"/>; environment variables.
    /// </summary>
    public static IConfiguration Read(IReadOnlyList<string> files)
    {
        var folder = File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json")) ? Directory.GetCurrentDirectory() : AppContext.BaseDirectory;
        var environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        var builder = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(folder, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(folder, $"appsettings.{environment}.json"), optional: true);
        foreach (var file in files)
        {
            builder.AddJsonFile(Path.GetFullPath(file), optional: false);
        }

        return builder.AddEnvironmentVariables().Build();
    }

    /// <summary>Binds and validates as the service does at start; null (having said what to fix) when the service would not start either.</summary>
    public static ServiceConfiguration? Bind(IConfiguration configuration, TextWriter error)
    {
        var services = new ServiceCollection()
            .AddSingleton(configuration)
            .AddLogging()
            .AddClock(configuration)
            .AddKafka()
            .AddIngest()
            .BuildServiceProvider();
        var failures = StartupValidation.FailuresOf(() => services.GetRequiredService<IStartupValidator>().Validate());
        if (failures.Count == 0)
        {
            // Only the deadline is needed of the switching settings (whether a redriven drop is still worth a callback);
            // the rest, certificates included, are the service's business.
            var deadline = configuration.GetSection(SwitchingOptions.Section).GetValue<TimeSpan?>(nameof(SwitchingOptions.CallbackDeadline)) ?? new SwitchingOptions().CallbackDeadline;
            return new ServiceConfiguration(services, deadline);
        }

        services.Dispose();
        error.WriteLine("callrecovery-redrive cannot run; fix the service's configuration (appsettings.json or environment variables, ':' written '__'):");
        foreach (var failure in failures)
        {
            error.WriteLine("  - " + failure);
        }

        return null;
    }

    public void Dispose() => _services.Dispose();
}
