using Confluent.Kafka;

namespace CallRecovery.Ingest;

/// <summary>
/// The offsets of batches being decided side by side. A partition's offset may be stored only when every batch
/// before it on that partition is decided (the contiguous decided prefix, as kafkaflow's PartitionOffsets does),
/// so a crash replays from the first undecided event and never skips one. Used by the consume thread only.
/// </summary>
internal sealed class PartitionOffsets
{
    private readonly Dictionary<TopicPartition, Queue<Slot>> _pending = [];

    /// <summary>Starts tracking a batch: one slot per partition, holding the offset after its last event there.</summary>
    public IReadOnlyList<Slot> Track(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> batch)
    {
        var slots = new List<Slot>();
        foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(g => g.MaxBy(r => r.Offset.Value)!))
        {
            var slot = new Slot(last.TopicPartition, new TopicPartitionOffset(last.TopicPartition, last.Offset + 1, last.LeaderEpoch));
            if (!_pending.TryGetValue(last.TopicPartition, out var queue))
            {
                _pending[last.TopicPartition] = queue = new Queue<Slot>();
            }

            queue.Enqueue(slot);
            slots.Add(slot);
        }

        return slots;
    }

    /// <summary>Marks a batch's slots decided and returns, per partition, the furthest offset now safe to store.</summary>
    public IReadOnlyList<TopicPartitionOffset> Decided(IEnumerable<Slot> slots)
    {
        foreach (var slot in slots)
        {
            slot.Done = true;
        }

        var releasable = new List<TopicPartitionOffset>();
        foreach (var (partition, queue) in _pending)
        {
            TopicPartitionOffset? furthest = null;
            while (queue.TryPeek(out var head) && head.Done)
            {
                furthest = queue.Dequeue().Next;
            }

            if (furthest is not null)
            {
                releasable.Add(furthest);
            }
        }

        foreach (var empty in _pending.Where(p => p.Value.Count == 0).Select(p => p.Key).ToList())
        {
            _pending.Remove(empty);
        }

        return releasable;
    }

    /// <summary>Batches not yet decided, on any partition.</summary>
    public int Undecided => _pending.Values.Sum(q => q.Count(s => !s.Done));

    /// <summary>One batch's part of one partition.</summary>
    internal sealed class Slot(TopicPartition partition, TopicPartitionOffset next)
    {
        public TopicPartition Partition { get; } = partition;

        public TopicPartitionOffset Next { get; } = next;

        public bool Done { get; set; }
    }
}
