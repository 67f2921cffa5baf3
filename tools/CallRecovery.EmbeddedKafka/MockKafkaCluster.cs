using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using CallRecovery.Contracts;

namespace CallRecovery.EmbeddedKafka;

/// <summary>
/// librdkafka's built-in mock Kafka cluster: real TCP listeners speaking the Kafka protocol, with
/// consumer groups, idempotent producers and fault injection. It lives as long as this object.
/// Memory is bounded by librdkafka (about 5 MiB or 100k message sets per partition are kept).
/// </summary>
public sealed partial class MockKafkaCluster : IDisposable
{
    private readonly IntPtr _handle;
    private readonly IntPtr _cluster;
    private bool _disposed;

    public MockKafkaCluster(int brokers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        var conf = Native.rd_kafka_conf_new();
        var error = new byte[512];
        // The owning handle has no brokers of its own to talk to; its notices ("no bootstrap.servers") are noise on a console.
        Native.rd_kafka_conf_set(conf, "log_level", "3", error, (nuint)error.Length);
        // A plain producer handle owns the cluster; it never produces.
        _handle = Native.rd_kafka_new(0, conf, error, (nuint)error.Length);
        if (_handle == IntPtr.Zero)
        {
            throw new InvalidOperationException("librdkafka could not create a handle: " + Decode(error));
        }

        _cluster = Native.rd_kafka_mock_cluster_new(_handle, brokers);
        if (_cluster == IntPtr.Zero)
        {
            Native.rd_kafka_destroy(_handle);
            throw new InvalidOperationException("librdkafka could not start its mock cluster.");
        }

        BootstrapServers = Marshal.PtrToStringUTF8(Native.rd_kafka_mock_cluster_bootstraps(_cluster))
            ?? throw new InvalidOperationException("The mock cluster has no bootstrap address.");
        // Let the first member of a group start at once instead of waiting for others (Kafka's default is 3 s).
        Native.rd_kafka_mock_group_initial_rebalance_delay_ms(_cluster, 0);
    }

    /// <summary>"host:port,host:port" of the mock brokers, for <c>bootstrap.servers</c>.</summary>
    public string BootstrapServers { get; }

    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        var result = Native.rd_kafka_mock_topic_create(_cluster, topic, partitions, replicationFactor);
        if (result != 0)
        {
            throw new InvalidOperationException($"Creating topic '{topic}' failed with librdkafka error {result}.");
        }
    }

    /// <summary>Takes a broker down (connections close, new ones are refused) until <see cref="SetBrokerUp"/>.</summary>
    public void SetBrokerDown(int brokerId) => Check(Native.rd_kafka_mock_broker_set_down(_cluster, brokerId), "set broker down");

    public void SetBrokerUp(int brokerId) => Check(Native.rd_kafka_mock_broker_set_up(_cluster, brokerId), "set broker up");

    /// <summary>Makes the next <paramref name="errors"/>.Length requests of a Kafka API fail with those error codes.</summary>
    public void PushRequestErrors(short apiKey, params int[] errors) =>
        Native.rd_kafka_mock_push_request_errors_array(_cluster, apiKey, (nuint)errors.Length, errors);

    /// <summary>
    /// Gives a partition to another broker, or to none (<paramref name="brokerId"/> -1: produce and fetch wait for a
    /// leader, as when its brokers are lost) until it is given one again.
    /// </summary>
    public void SetPartitionLeader(string topic, int partition, int brokerId) =>
        Check(Native.rd_kafka_mock_partition_set_leader(_cluster, topic, partition, brokerId), "set partition leader");

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Native.rd_kafka_mock_cluster_destroy(_cluster);
        Native.rd_kafka_destroy(_handle);
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"Mock cluster: {what} failed with librdkafka error {result}.");
        }
    }

    private static string Decode(byte[] buffer)
    {
        var end = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end);
    }

    private static partial class Native
    {
        private const string Library = "librdkafka";

        static Native() => NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Resolve);

        [LibraryImport(Library)]
        internal static partial IntPtr rd_kafka_conf_new();

        [LibraryImport(Library)]
        internal static partial IntPtr rd_kafka_new(int type, IntPtr conf, [Out] byte[] errstr, nuint errstrSize);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_destroy(IntPtr rk);

        [LibraryImport(Library)]
        internal static partial IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_mock_cluster_destroy(IntPtr cluster);

        [LibraryImport(Library)]
        internal static partial IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);

        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int rd_kafka_mock_topic_create(IntPtr cluster, string topic, int partitions, int replicationFactor);

        [LibraryImport(Library)]
        internal static partial int rd_kafka_mock_broker_set_down(IntPtr cluster, int brokerId);

        [LibraryImport(Library)]
        internal static partial int rd_kafka_mock_broker_set_up(IntPtr cluster, int brokerId);

        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int rd_kafka_mock_partition_set_leader(IntPtr cluster, string topic, int partition, int brokerId);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_mock_push_request_errors_array(IntPtr cluster, short apiKey, nuint count, int[] errors);

        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int rd_kafka_conf_set(IntPtr conf, string name, string value, byte[] errstr, nuint errstrSize);

        [LibraryImport(Library)]
        internal static partial void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr cluster, int delayMs);

        /// <summary>The same bundled librdkafka build that Confluent.Kafka uses in this process (<see cref="BundledLibrdkafka"/>).</summary>
        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
            name == Library && NativeLibrary.TryLoad(BundledLibrdkafka.Load(), out var handle) ? handle : IntPtr.Zero;
    }
}
