using Confluent.Kafka;
using CallRecovery.Ingest;

namespace CallRecovery.Tests.Ingest;

public class PartitionOffsetsTests
{
    private static ConsumeResult<byte[]?, byte[]?> At(int partition, long offset) => new()
    {
        Topic = "events",
        Partition = new Partition(partition),
        Offset = new Offset(offset),
        Message = new Message<byte[]?, byte[]?>(),
    };

    [Fact]
    public void A_later_batch_decided_first_stores_nothing_until_the_earlier_one_is_decided()
    {
        var offsets = new PartitionOffsets();
        var first = offsets.Track([At(0, 10), At(0, 11), At(1, 5)]);
        var second = offsets.Track([At(0, 12), At(1, 6), At(1, 7)]);

        Assert.Empty(offsets.Decided(second));
        Assert.Equal(2, offsets.Undecided);

        var stored = offsets.Decided(first).OrderBy(o => o.Partition.Value).ToList();
        Assert.Equal([(0, 13L), (1, 8L)], stored.Select(o => (o.Partition.Value, o.Offset.Value)));
        Assert.Equal(0, offsets.Undecided);
    }

    [Fact]
    public void A_partition_moves_on_as_far_as_its_own_batches_are_decided()
    {
        var offsets = new PartitionOffsets();
        var onlyZero = offsets.Track([At(0, 1)]);
        var both = offsets.Track([At(0, 2), At(1, 40)]);
        var onlyOne = offsets.Track([At(1, 41)]);

        // Partition 1's first batch is still undecided, so deciding its second stores nothing for it.
        Assert.Empty(offsets.Decided(onlyOne));
        var afterFirst = offsets.Decided(onlyZero);
        Assert.Equal([(0, 2L)], afterFirst.Select(o => (o.Partition.Value, o.Offset.Value)));
        var afterBoth = offsets.Decided(both).OrderBy(o => o.Partition.Value).ToList();
        Assert.Equal([(0, 3L), (1, 42L)], afterBoth.Select(o => (o.Partition.Value, o.Offset.Value)));
    }
}
