using System.Diagnostics;

namespace CallRecovery.Redrive;

/// <summary>
/// How far a long run is, on stderr (stdout keeps the report, for pipes): on a terminal one line rewritten in place
/// at most four times a second, otherwise (a Job's log) a line every five seconds. Plain text rather than a
/// Spectre.Console live display: those own the whole console while they run, and the --list lines and librdkafka's
/// warnings must get through.
/// </summary>
internal sealed class ProgressLine(TextWriter error, bool terminal)
{
    private readonly bool _terminal = terminal;
    private readonly TimeSpan _interval = terminal ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(5);
    private readonly Stopwatch _since = Stopwatch.StartNew();
    private TimeSpan _last = TimeSpan.Zero;
    private bool _shown;

    /// <summary>Shows the line if the last one is old enough; <paramref name="text"/> is only made then.</summary>
    public void Update(Func<string> text)
    {
        var now = _since.Elapsed;
        if (now - _last < _interval)
        {
            return;
        }

        _last = now;
        if (_terminal)
        {
            error.Write("\r\u001b[K" + text());
            _shown = true;
        }
        else
        {
            error.WriteLine(text());
        }
    }

    /// <summary>Takes the line away before anything else is written to the terminal.</summary>
    public void Clear()
    {
        if (_shown)
        {
            error.Write("\r\u001b[K");
            _shown = false;
        }
    }
}
