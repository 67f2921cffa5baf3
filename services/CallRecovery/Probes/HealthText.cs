using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CallRecovery.Probes;

/// <summary>
/// The body of <c>/health/live</c> and <c>/health/ready</c>: the overall status on the first line (what probes and
/// scripts compare), then one line per check that is not healthy, with its reason, so an operator reading the
/// endpoint (or <c>kubectl describe</c>) sees why. Reasons are the service's words, never data.
/// </summary>
public static class HealthText
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        var text = new StringBuilder(report.Status.ToString());
        foreach (var (name, entry) in report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            text.Append('\n').Append(name).Append(": ").Append(entry.Status).Append(": ").Append(entry.Description ?? entry.Exception?.GetType().Name ?? "no reason given");
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text.Append('\n').ToString());
    }
}
