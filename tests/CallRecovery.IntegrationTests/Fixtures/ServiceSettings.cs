using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using CallRecovery.Amends;
using CallRecovery.Ingest;
using CallRecovery.Kafka;
using CallRecovery.Policy;
using CallRecovery.Probes;
using CallRecovery.Redis;
using CallRecovery.SwitchApi;
using CallRecovery.Observability;
using CallRecovery.Security;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// Checks the service's settings as a deployment writes them (environment variables) against the service
/// itself: every name must be a setting it reads, and the result must pass its own start-up validation.
/// </summary>
public static partial class ServiceSettings
{
    private static readonly Dictionary<string, Type> OptionSections = new(StringComparer.Ordinal)
    {
        [KafkaOptions.Section] = typeof(KafkaOptions),
        [EventValidationOptions.Section] = typeof(EventValidationOptions),
        [RedisOptions.Section] = typeof(RedisOptions),
        [ClassificationOptions.Section] = typeof(ClassificationOptions),
        [RecoveryPolicyOptions.Section] = typeof(RecoveryPolicyOptions),
        [SwitchingOptions.Section] = typeof(SwitchingOptions),
        [LivenessOptions.Section] = typeof(LivenessOptions),
        [RetryOptions.Section] = typeof(RetryOptions),
        [QuietHoursOptions.Section] = typeof(QuietHoursOptions),
        [OutageOptions.Section] = typeof(OutageOptions),
        [RolloutOptions.Section] = typeof(RolloutOptions),
        [CompensationOptions.Section] = typeof(CompensationOptions),
        ["HttpApi"] = typeof(HttpApiSection),
    };

    /// <summary>What is wrong with these environment variables as the service's configuration; empty when nothing is.</summary>
    public static IReadOnlyList<string> Problems(IReadOnlyDictionary<string, string?> environment)
    {
        var problems = new List<string>();
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (name, value) in environment)
        {
            if (name.StartsWith("OTEL_", StringComparison.Ordinal))
            {
                if (!OpenTelemetryVariable().IsMatch(name))
                {
                    problems.Add($"{name} is not an OpenTelemetry variable the .NET SDK reads");
                }
            }
            else if (!name.StartsWith("ASPNETCORE_", StringComparison.Ordinal) && !name.StartsWith("DOTNET_", StringComparison.Ordinal))
            {
                settings[name.Replace("__", ":", StringComparison.Ordinal)] = value;
            }
        }

        var builder = new ConfigurationBuilder()
            .AddJsonFile(Repository.PathOf("services/CallRecovery/appsettings.json"))
            .AddInMemoryCollection(settings);
        if (settings.GetValueOrDefault("Rollout:File") is { Length: > 0 } rollout)
        {
            // The rollout file the service reads too (a mounted ConfigMap), checked like any other source.
            builder.AddJsonFile(rollout, optional: false);
        }

        var configuration = builder.Build();
        foreach (var key in settings.Keys)
        {
            var section = key.Split(':')[0];
            if (!OptionSections.ContainsKey(section) && section is not ("Kestrel" or "Logging"))
            {
                problems.Add($"{key.Replace(":", "__", StringComparison.Ordinal)} is not a setting of the service");
            }
        }

        foreach (var (section, type) in OptionSections)
        {
            try
            {
                configuration.GetSection(section).Get(type, binder => binder.ErrorOnUnknownConfiguration = true);
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{section}: {e.Message}");
            }
        }

        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddLogging()
            .AddObservability()
            .AddSecurity()
            .AddProbes()
            .AddRedis()
            .AddKafka()
            .AddPolicy()
            .AddCompensation()
            .AddIngest()
            .AddSwitchApi();
        using var provider = services.BuildServiceProvider();
        try
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (InvalidOperationException e)
        {
            // A value of the wrong type: already reported by the binding above.
            Assert.Contains(problems, p => p.Contains(e.Message, StringComparison.Ordinal));
        }
        catch (Exception e) when (e is OptionsValidationException or AggregateException)
        {
            problems.AddRange((e is AggregateException aggregate ? aggregate.InnerExceptions : [e]).OfType<OptionsValidationException>().SelectMany(v => v.Failures));
        }

        return problems;
    }

    /// <summary>The service's configuration as these environment variables give it (appsettings.json underneath).</summary>
    public static IConfiguration Configuration(IReadOnlyDictionary<string, string?> environment) =>
        new ConfigurationBuilder()
            .AddJsonFile(Repository.PathOf("services/CallRecovery/appsettings.json"))
            .AddInMemoryCollection(environment.Where(e => e.Key.Contains("__", StringComparison.Ordinal))
                .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), e.Value)))
            .Build();

    /// <summary>The "HttpApi" section as the service reads it.</summary>
    private sealed class HttpApiSection
    {
        public ApiAccessOptions Authentication { get; set; } = new();
    }

    // The variables of the OpenTelemetry specification that the .NET SDK and its OTLP exporter read.
    [GeneratedRegex("^OTEL_(SERVICE_NAME|RESOURCE_ATTRIBUTES|SDK_DISABLED|EXPORTER_OTLP(_(TRACES|METRICS|LOGS))?_(ENDPOINT|PROTOCOL|HEADERS|TIMEOUT)|BSP_[A-Z_]+|METRIC_EXPORT_(INTERVAL|TIMEOUT)|ATTRIBUTE_[A-Z_]+)$")]
    private static partial Regex OpenTelemetryVariable();
}
