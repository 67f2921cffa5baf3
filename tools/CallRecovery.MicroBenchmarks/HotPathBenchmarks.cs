using System.Text;
using BenchmarkDotNet.Attributes;
using CallRecovery.Contracts.V1;
using CallRecovery.Delivery;
using CallRecovery.FaultMatrix;
using CallRecovery.Ingest;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using Confluent.Kafka;
using Google.Protobuf;
using Microsoft.Extensions.Options;

namespace CallRecovery.MicroBenchmarks;

/// <summary>
/// What each recovery runs in the service's own code, without Kafka or Redis: the event read from its bytes
/// (protobuf binary, or canonical JSON), the drop classified, the stored recovery read back from its hash fields and
/// the switch's command built from it. Default options, as operators run them.
/// </summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private NetworkEventReader _reader = null!;
    private DropClassifier _classifier = null!;
    private CallbackCommands _commands = null!;
    private Message<byte[]?, byte[]?> _binary = null!;
    private Message<byte[]?, byte[]?> _json = null!;
    private CallDrop _drop = null!;
    private Dictionary<string, string> _fields = null!;
    private RecoveryRecord _recovery = null!;

    [GlobalSetup]
    public void Setup()
    {
        var policy = Options.Create(new RecoveryPolicyOptions());
        var switching = Options.Create(new SwitchingOptions());
        _reader = new NetworkEventReader(Options.Create(new EventValidationOptions()), TimeProvider.System);
        _classifier = new DropClassifier(Options.Create(new ClassificationOptions()), policy);
        _commands = new CallbackCommands(new SwitchRouter(switching, policy), switching);

        var now = DateTimeOffset.UtcNow;
        // The eligible drop the benchmark and the fault matrix publish (an answered call, Q.850 cause 41).
        var dropped = EligibleDrops.Create("icid-4711", 4711, now.AddSeconds(-1), "msc-lon-1", "234-15-1a2b-0c");
        _binary = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes("icid-4711"), Value = dropped.ToByteArray() };
        _json = new Message<byte[]?, byte[]?>
        {
            Key = _binary.Key,
            Value = Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(dropped)),
            Headers = new Headers { { NetworkEventReader.ContentTypeHeader, Encoding.ASCII.GetBytes("application/json") } },
        };
        _drop = ((DropReported)_reader.Read(_binary)).Drop;
        var classification = _classifier.Classify(_drop);
        var recovery = new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(_drop.CallId),
            CallId = _drop.CallId,
            State = RecoveryState.Pending,
            CallBack = classification.CallBack,
            OtherParty = classification.OtherParty,
            DropTime = _drop.DropTime,
            AcceptedAt = now,
            EventId = _drop.EventId,
            Cause = _drop.Cause.Value,
            ServingCell = _drop.ServingCell,
            SwitchingNode = _drop.SwitchingNode,
            AccessTechnology = _drop.AccessTechnology.ToString(),
            SwitchId = "switch-lon",
            DueAt = now,
            Deadline = now.AddMinutes(5),
            TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        };
        _fields = recovery.ToFields().ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
        _recovery = RecoveryRecord.FromFields(_fields);
    }

    [Benchmark(Description = "read an event (protobuf)")]
    public IngestedEvent ReadBinary() => _reader.Read(_binary);

    [Benchmark(Description = "read an event (JSON)")]
    public IngestedEvent ReadJson() => _reader.Read(_json);

    [Benchmark(Description = "classify a drop")]
    public Classification Classify() => _classifier.Classify(_drop);

    [Benchmark(Description = "read a stored recovery")]
    public RecoveryRecord ReadRecovery() => RecoveryRecord.FromFields(_fields);

    [Benchmark(Description = "build a switch command")]
    public CallbackCommand BuildCommand() => _commands.From(_recovery);
}
