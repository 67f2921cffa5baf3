using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Options;

namespace CallRecovery.Hosting;

public static partial class StartupValidation
{
    /// <summary>
    /// Reads appsettings.json from the service's own directory when the working directory (the content root) has
    /// none, e.g. when started from the repository root: otherwise the file is silently skipped, and the switching
    /// port then speaks HTTP/1.1 as well and gRPC clients fail with HTTP_1_1_REQUIRED. Environment variables and
    /// the command line still override it.
    /// </summary>
    public static WebApplicationBuilder WithSettingsBesideTheService(this WebApplicationBuilder builder)
    {
        var own = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        if (!File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")) && File.Exists(own))
        {
            var source = new JsonConfigurationSource { Path = own, Optional = true };
            source.ResolveFileProvider();
            builder.Configuration.Sources.Insert(0, source);
        }

        return builder;
    }

    /// <summary>
    /// The rollout (shadow mode, the canary) from a file of its own when Rollout:File names one, read again whenever
    /// it changes: a mounted ConfigMap changes the rollout without a restart.
    /// </summary>
    public static WebApplicationBuilder WithRolloutFile(this WebApplicationBuilder builder)
    {
        if (builder.Configuration["Rollout:File"] is { Length: > 0 } rollout)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(rollout), optional: true, reloadOnChange: true);
        }

        return builder;
    }

    /// <summary>
    /// Builds the application and checks every option validated at start-up, all at once, and says in plain
    /// words what to fix, instead of a stack trace about the first one. Null when the service must not start.
    /// </summary>
    public static WebApplication? BuildWithValidConfiguration(this WebApplicationBuilder builder)
    {
        WebApplication? app = null;
        // Building already binds some options (Kestrel reads the switching settings), so it is inside.
        var failures = FailuresOf(() =>
        {
            app = builder.Build();
            app.Services.GetRequiredService<IStartupValidator>().Validate();
        });
        if (failures.Count == 0)
        {
            WarnOfTestingHooks(app!);
            return app;
        }

        (app as IDisposable)?.Dispose();
        Console.Error.WriteLine("CallRecovery cannot start; fix its configuration (appsettings.json or environment variables, ':' written '__'):");
        foreach (var failure in failures)
        {
            Console.Error.WriteLine("  - " + failure);
        }

        return null;
    }

    /// <summary>
    /// What is wrong with the configuration, in plain words, as <paramref name="validate"/> (binding options and running
    /// their start-up validation) finds it: every failed validation, or a value of the wrong form; empty when all holds.
    /// </summary>
    public static IReadOnlyList<string> FailuresOf(Action validate)
    {
        ArgumentNullException.ThrowIfNull(validate);
        try
        {
            validate();
            return [];
        }
        catch (Exception e) when (e is OptionsValidationException or AggregateException)
        {
            return [.. (e is AggregateException aggregate ? aggregate.InnerExceptions : [e])
                .OfType<OptionsValidationException>()
                .SelectMany(v => v.Failures)
                .Distinct()];
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // A value of the wrong form ("five" for a TimeSpan) fails while binding, before any validation.
            return [e.Message];
        }
    }

    /// <summary>A test hook set in a deployment is a mistake worth a loud line at every start.</summary>
    private static void WarnOfTestingHooks(WebApplication app)
    {
        var testing = app.Services.GetRequiredService<IOptions<TestingOptions>>().Value;
        if (testing.PlantDoubleSend || testing.CrashAt is not null || testing.ClockOffsetFile is not null)
        {
            var crashAt = testing.CrashAt ?? "none";
            var clock = testing.ClockOffsetFile is not null;
            LogTestHooks(app.Logger, testing.PlantDoubleSend, crashAt, clock);
        }
    }

    [LoggerMessage(EventId = 9002, Level = LogLevel.Critical, Message = "Test hooks are set (Testing:PlantDoubleSend {Plant}, Testing:CrashAt {CrashAt}, Testing:ClockOffsetFile set {Clock}): this process is for tests only")]
    private static partial void LogTestHooks(ILogger logger, bool plant, string crashAt, bool clock);
}
