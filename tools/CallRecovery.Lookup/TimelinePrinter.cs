using System.Globalization;
using CallRecovery.Contracts.V1;

namespace CallRecovery.Lookup;

/// <summary>Prints timelines for people: one header per call, one line per step with its time since the drop.</summary>
public static class TimelinePrinter
{
    public static void Print(TimelineReply reply, TextWriter output)
    {
        if (reply.Calls.Count == 0)
        {
            output.WriteLine("No calls found.");
            return;
        }

        foreach (var call in reply.Calls)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Call {call.CallId}: {call.State}{(call.Outcome.Length > 0 && call.Outcome != call.State ? $" ({call.Outcome})" : string.Empty)}"));
            if (call.RecoveryId.Length > 0)
            {
                output.WriteLine($"  recovery {call.RecoveryId} via switch {call.SwitchId}: call back {call.CustomerMasked}, reconnect to {call.OtherPartyMasked}");
                if (call.TraceId.Length > 0)
                {
                    output.WriteLine($"  trace {call.TraceId}");
                }
            }

            foreach (var entry in call.Entries)
            {
                var since = entry.SinceDrop.ToTimeSpan().TotalSeconds;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {entry.At.ToDateTimeOffset():HH:mm:ss.fff}  {(since >= 0 ? "+" : "-")}{Math.Abs(since),7:0.000} s  {entry.What}{(entry.Detail.Length > 0 ? "  - " + entry.Detail : string.Empty)}"));
            }

            output.WriteLine();
        }
    }
}
