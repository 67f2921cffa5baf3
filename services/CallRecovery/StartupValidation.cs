using Microsoft.Extensions.Options;

namespace CallRecovery;

public static class StartupValidation
{
    /// <summary>
    /// Checks every option validated at start-up, all at once, and says in plain words what to fix, instead of
    /// a stack trace about the first one. False when the service must not start.
    /// </summary>
    public static bool ConfigurationIsValid(this WebApplication app)
    {
        try
        {
            app.Services.GetRequiredService<IStartupValidator>().Validate();
            return true;
        }
        catch (Exception e) when (e is OptionsValidationException or AggregateException)
        {
            var failures = (e is AggregateException aggregate ? aggregate.InnerExceptions : [e])
                .OfType<OptionsValidationException>()
                .SelectMany(v => v.Failures)
                .Distinct()
                .ToList();
            Console.Error.WriteLine("CallRecovery cannot start; fix its configuration (appsettings.json or environment variables, ':' written '__'):");
            foreach (var failure in failures)
            {
                Console.Error.WriteLine("  - " + failure);
            }

            return false;
        }
    }
}
