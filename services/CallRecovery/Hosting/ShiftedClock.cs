using System.Globalization;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CallRecovery.Hosting;

/// <summary>
/// A clock that runs with the real one at an offset that can change while the service runs (the offset file), so an
/// integration test can put the service at noon or at night, and move it past a deadline, whatever the hour of the run.
/// Timers and elapsed times stay real; only "now" moves.
/// </summary>
public sealed class ShiftedClock : TimeProvider, IDisposable
{
    private readonly string? _file;
    private readonly Timer? _reader;
    private long _offsetTicks;
    private DateTime _read;

    public ShiftedClock(TimeSpan offset = default, string? file = null)
    {
        _offsetTicks = offset.Ticks;
        _file = file;
        if (file is not null)
        {
            ReadFile();
            // A test writes the file and waits for the service to act on the new time: a tenth of a second is soon enough.
            _reader = new Timer(_ => ReadFile(), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        }
    }

    public TimeSpan Offset
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
        set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
    }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;

    /// <summary>Writes an offset for a service process reading <paramref name="file"/>.</summary>
    public static void WriteOffset(string file, TimeSpan offset) =>
        File.WriteAllText(file, offset.ToString("c", CultureInfo.InvariantCulture));

    private void ReadFile()
    {
        try
        {
            var written = File.GetLastWriteTimeUtc(_file!);
            if (written != _read && TimeSpan.TryParse(File.ReadAllText(_file!).Trim(), CultureInfo.InvariantCulture, out var offset))
            {
                _read = written;
                Offset = offset;
            }
        }
        catch (IOException)
        {
            // Being written just now: read at the next tick.
        }
    }

    public void Dispose() => _reader?.Dispose();
}

public static class ClockServiceCollectionExtensions
{
    /// <summary>The service's clock: the system's, or for tests one shifted by the offset in <see cref="TestingOptions.ClockOffsetFile"/>.</summary>
    public static IServiceCollection AddClock(this IServiceCollection services, IConfiguration configuration)
    {
        var file = configuration.GetSection(TestingOptions.Section)[nameof(TestingOptions.ClockOffsetFile)];
        services.AddOptions<TestingOptions>().BindConfiguration(TestingOptions.Section);
        services.AddSingleton<CrashPoints>();
        services.TryAddSingleton<TimeProvider>(string.IsNullOrWhiteSpace(file) ? TimeProvider.System : new ShiftedClock(file: file));
        return services;
    }
}
