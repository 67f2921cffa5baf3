using System.Diagnostics;
using System.Globalization;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// Makes sure no process a fixture starts (redis-server, the service, the demo) outlives the test host, even when
/// the host is killed and never runs its disposers: each child gets a watchdog that kills it once the host is gone,
/// and is recorded in a folder that the next test run sweeps for leftovers of hosts that died.
/// </summary>
public static class OwnedProcesses
{
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "callrecovery-test-processes");
    private static readonly Lazy<int> Swept = new(SweepLeftovers);

    /// <summary>Ties the child's life to this test host.</summary>
    public static void Adopt(Process child)
    {
        _ = Swept.Value;
        var host = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var pid = child.Id.ToString(CultureInfo.InvariantCulture);
        Directory.CreateDirectory(Folder);
        Record(child.Id, host, StartTicks(child.Id));

        // Polls both: exits with the child, and kills the child once the host is gone.
        var watchdog = new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", $"while kill -0 {host} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -9 {pid} 2>/dev/null; rm -f '{Path.Combine(Folder, pid)}'" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var started = Process.Start(watchdog);
    }

    /// <summary>Writes a record whole or not at all (a sweep running meanwhile never reads half of one).</summary>
    public static void Record(int pid, string host, string startTicks)
    {
        Directory.CreateDirectory(Folder);
        var path = Path.Combine(Folder, pid.ToString(CultureInfo.InvariantCulture));
        File.WriteAllText(path + ".new", $"{host} {startTicks}");
        File.Move(path + ".new", path, overwrite: true);
    }

    /// <summary>The process's start time, as recorded.</summary>
    public static string StartTicksOf(int pid) => StartTicks(pid);

    /// <summary>The child ended as planned: forget it.</summary>
    public static void Release(Process child)
    {
        try
        {
            File.Delete(Path.Combine(Folder, child.Id.ToString(CultureInfo.InvariantCulture)));
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
    }

    /// <summary>Kills children recorded by test hosts that are no longer running (same pid and start time, so never a stranger).</summary>
    public static int SweepLeftovers()
    {
        if (!Directory.Exists(Folder))
        {
            return 0;
        }

        var killed = 0;
        foreach (var record in Directory.GetFiles(Folder).Where(f => !f.EndsWith(".new", StringComparison.Ordinal)))
        {
            try
            {
                killed += SweepOne(record) ? 1 : 0;
            }
            catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Another test host is sweeping the same record, or the process just ended by itself.
            }
        }

        return killed;
    }

    private static bool SweepOne(string record)
    {
        var parts = File.ReadAllText(record).Split(' ');
        if (!int.TryParse(Path.GetFileName(record), out var pid) || parts.Length != 2 || !int.TryParse(parts[0], out var host))
        {
            File.Delete(record);
            return false;
        }

        if (IsRunning(host))
        {
            return false;
        }

        var killed = false;
        if (IsRunning(pid) && StartTicks(pid) == parts[1])
        {
            using var leftover = Process.GetProcessById(pid);
            leftover.Kill(entireProcessTree: true);
            killed = true;
        }

        File.Delete(record);
        return killed;
    }

    private static bool IsRunning(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>The process's start time in clock ticks since boot (field 22 of /proc/pid/stat), which tells a reused pid apart.</summary>
    private static string StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        }
        catch (IOException)
        {
            return "gone";
        }
    }
}
