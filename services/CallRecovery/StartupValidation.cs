using Microsoft.Extensions.Options;

namespace CallRecovery;

public static class StartupValidation
{
    /// <summary>
    /// Builds the application and checks every option validated at start-up, all at once, and says in plain
    /// words what to fix, instead of a stack trace about the first one. Null when the service must not start.
    /// </summary>
    public static WebApplication? BuildWithValidConfiguration(this WebApplicationBuilder builder)
    {
        List<string> failures;
        WebApplication? app = null;
        try
        {
            // Building already binds some options (Kestrel reads the switching settings), so it is inside.
            app = builder.Build();
            app.Services.GetRequiredService<IStartupValidator>().Validate();
            return app;
        }
        catch (Exception e) when (e is OptionsValidationException or AggregateException)
        {
            failures = [.. (e is AggregateException aggregate ? aggregate.InnerExceptions : [e])
                .OfType<OptionsValidationException>()
                .SelectMany(v => v.Failures)
                .Distinct()];
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // A value of the wrong form ("five" for a TimeSpan) fails while binding, before any validation.
            failures = [e.Message];
        }

        (app as IDisposable)?.Dispose();
        Console.Error.WriteLine("CallRecovery cannot start; fix its configuration (appsettings.json or environment variables, ':' written '__'):");
        foreach (var failure in failures)
        {
            Console.Error.WriteLine("  - " + failure);
        }

        return null;
    }
}
