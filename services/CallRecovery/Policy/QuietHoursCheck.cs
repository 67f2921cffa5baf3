using Microsoft.Extensions.Options;

namespace CallRecovery.Policy;

/// <summary>
/// Says at start-up where quiet hours may fall at the wrong local time: the default zone left at UTC, or a country
/// with several time zones (+1, +7, +52, +55, +61, +62) that has no area-code entries, so all its numbers take the
/// default zone. A warning, not an error: a deployment may mean it.
/// </summary>
public sealed partial class QuietHoursCheck(IOptions<QuietHoursOptions> options, ILogger<QuietHoursCheck> logger) : IHostedService
{
    private static readonly string[] SeveralZones = ["+1", "+7", "+52", "+55", "+61", "+62"];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var quiet = options.Value;
        if (!quiet.Enabled)
        {
            return Task.CompletedTask;
        }

        if (quiet.DefaultTimeZone is "Etc/UTC" or "UTC")
        {
            LogDefaultIsUtc();
        }

        // Country codes are prefix-free, so any entry beginning with the code is that country's (its own, or its area codes').
        foreach (var country in SeveralZones.Where(c => !quiet.EffectiveTimeZones.Keys.Any(p => p.StartsWith(c, StringComparison.Ordinal))))
        {
            LogSeveralZones(country, quiet.DefaultTimeZone);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1901, Level = LogLevel.Warning, Message = "QuietHours:DefaultTimeZone is UTC: numbers no QuietHours:TimeZones prefix matches get quiet hours in UTC; set the operator's zone (e.g. Europe/London)")]
    private partial void LogDefaultIsUtc();

    [LoggerMessage(EventId = 1902, Level = LogLevel.Warning, Message = "Country code {Country} spans several time zones and QuietHours:TimeZones has no area codes for it: its numbers get quiet hours in {DefaultZone}")]
    private partial void LogSeveralZones(string country, string defaultZone);
}
