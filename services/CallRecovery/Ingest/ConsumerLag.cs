using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using CallRecovery.Observability;

namespace CallRecovery.Ingest;

/// <summary>How far this replica's consumer is behind, per assigned partition, from librdkafka's statistics.</summary>
public sealed class ConsumerLag
{
    public ConsumerLag(CallRecoveryTelemetry telemetry) =>
        telemetry.Meter.CreateObservableGauge("callrecovery.consumer.lag", () => Current.Select(l => new Measurement<long>(l.Value,
            new KeyValuePair<string, object?>("messaging.destination.name", l.Key.Topic),
            new KeyValuePair<string, object?>("messaging.destination.partition.id", l.Key.Partition))), "{message}", "Events waiting in Kafka behind this replica's position, per assigned partition.");

    private ConcurrentDictionary<(string Topic, int Partition), long> _lags = new();

    public IReadOnlyDictionary<(string Topic, int Partition), long> Current => _lags;

    /// <summary>Takes a statistics document; partitions with an unknown lag (-1) or the internal partition -1 are left out.</summary>
    public void Update(JsonElement statistics)
    {
        var lags = new ConcurrentDictionary<(string, int), long>();
        if (statistics.TryGetProperty("topics", out var topics))
        {
            foreach (var topic in topics.EnumerateObject())
            {
                if (!topic.Value.TryGetProperty("partitions", out var partitions))
                {
                    continue;
                }

                foreach (var partition in partitions.EnumerateObject())
                {
                    var id = partition.Value.GetProperty("partition").GetInt32();
                    var lag = partition.Value.TryGetProperty("consumer_lag", out var value) ? value.GetInt64() : -1;
                    if (id >= 0 && lag >= 0)
                    {
                        lags[(topic.Name, id)] = lag;
                    }
                }
            }
        }

        _lags = lags;
    }
}
