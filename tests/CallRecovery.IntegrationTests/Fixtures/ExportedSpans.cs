using System.Collections.ObjectModel;
using System.Diagnostics;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// Spans from OpenTelemetry's in-memory exporter, safe to read while the service still exports: the exporter adds
/// to its collection from whichever thread ended a span, without a lock of ours, so a plain list read beside it can
/// throw "collection was modified".
/// </summary>
public sealed class ExportedSpans : Collection<Activity>
{
    /// <summary>The spans exported so far.</summary>
    public Activity[] Snapshot()
    {
        lock (Items)
        {
            return [.. Items];
        }
    }

    protected override void InsertItem(int index, Activity item)
    {
        lock (Items)
        {
            base.InsertItem(index, item);
        }
    }
}
