using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace CallRecovery.Contracts;

/// <summary>
/// Loads the librdkafka build that Confluent.Kafka ships (runtimes/&lt;rid&gt;/native), explicitly, whatever else is
/// installed. Left to itself, a process on a host with Debian's librdkafka1 (it comes with kcat) can end up with
/// the system's 2.0.2, whose consumers never get partitions. On Debian 12 the default bundled build cannot load
/// (it needs libsasl2.so.3) and the bundled CentOS 8 build can. The service, the tools and the tests call this
/// before creating any Kafka client.
/// </summary>
public static class BundledLibrdkafka
{
    private static readonly Lock Gate = new();
    private static string? _path;

    /// <summary>The Confluent.Kafka release this code was built with; librdkafka carries the same version number.</summary>
    public static Version Required { get; } = RequiredVersion();

    /// <summary>The librdkafka version loaded in this process (major.minor.patch).</summary>
    public static Version Loaded
    {
        get
        {
            var v = Library.Version;
            return new Version((v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
        }
    }

    /// <summary>The bundled build in use, once <see cref="Load"/> ran.</summary>
    public static string? LoadedPath => _path;

    /// <summary>Loads the bundled build (once per process) and returns its path; throws naming the problem when none loads.</summary>
    public static string Load()
    {
        lock (Gate)
        {
            if (_path is not null)
            {
                return _path;
            }

            var path = FindPath() ?? throw new DllNotFoundException(
                $"None of the librdkafka builds bundled with Confluent.Kafka under {NativeFolder()} loads on this system.");
            // Confluent.Kafka binds librdkafka through [DllImport] by name; every such name resolves to this build.
            // (Its Library.Load(path) needs an unversioned libdl.so, which glibc 2.34+ hosts no longer have.)
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(Library).Assembly, (name, _, _) =>
                    name.Contains("rdkafka", StringComparison.Ordinal) && NativeLibrary.TryLoad(path, out var handle) ? handle : IntPtr.Zero);
            }
            catch (InvalidOperationException)
            {
                // A resolver is already set for Confluent.Kafka in this process: the version check tells what it loaded.
            }

            _ = Library.Version;
            _path = path;
            return path;
        }
    }

    /// <summary>The first bundled build that the operating system can load, or null.</summary>
    public static string? FindPath()
    {
        foreach (var candidate in new[] { "librdkafka.so", "centos8-librdkafka.so", "alpine-librdkafka.so", "librdkafka.dylib", "librdkafka.dll" })
        {
            var path = Path.Combine(NativeFolder(), candidate);
            if (File.Exists(path) && NativeLibrary.TryLoad(path, out _))
            {
                return path;
            }
        }

        return null;
    }

    private static string NativeFolder()
    {
        var rid = (OperatingSystem.IsLinux() ? "linux-" : OperatingSystem.IsMacOS() ? "osx-" : "win-")
            + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        return Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native");
    }

    private static Version RequiredVersion()
    {
        var v = typeof(Library).Assembly.GetName().Version ?? new Version(0, 0, 0);
        return new Version(v.Major, v.Minor, Math.Max(0, v.Build));
    }
}
