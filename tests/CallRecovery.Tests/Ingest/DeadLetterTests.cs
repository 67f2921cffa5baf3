using System.Text;
using Confluent.Kafka;
using CallRecovery.Ingest;
using CallRecovery.Policy;

namespace CallRecovery.Tests.Ingest;

public class DeadLetterTests
{
    private static ConsumeResult<byte[]?, byte[]?> Source(byte[]? key, byte[]? value) => new()
    {
        Topic = "events",
        Partition = new Partition(3),
        Offset = new Offset(42),
        Message = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = new Headers { { "content-type", "application/json"u8.ToArray() } } },
    };

    private static readonly RejectedEvent Rejection = new("parse_error", "The value is not a NetworkEvent.", string.Empty, string.Empty);

    private static string Header(Message<byte[]?, byte[]?> message, string name) => Encoding.UTF8.GetString(message.Headers.GetLastBytes(name));

    [Fact]
    public void A_dead_letter_that_fits_is_the_original_with_the_reason()
    {
        var letter = DeadLetterPublisher.DeadLetter(Source("k"u8.ToArray(), "v"u8.ToArray()), Rejection, 1_000_000);
        Assert.Equal("v"u8.ToArray(), letter.Value);
        Assert.Equal("k"u8.ToArray(), letter.Key);
        Assert.Equal("application/json", Header(letter, "content-type"));
        Assert.Equal("parse_error", Header(letter, DeadLetterPublisher.ErrorCodeHeader));
        Assert.Equal("3", Header(letter, DeadLetterPublisher.SourcePartitionHeader));
        Assert.Equal("42", Header(letter, DeadLetterPublisher.SourceOffsetHeader));
        Assert.False(letter.Headers.TryGetLastBytes(DeadLetterPublisher.TruncatedFromHeader, out _));
    }

    [Fact]
    public void A_dead_letter_too_large_for_the_limit_keeps_the_first_bytes_and_says_how_long_it_was()
    {
        var value = new byte[2_000_000];
        new Random(3).NextBytes(value);
        var key = new byte[50_000];
        var letter = DeadLetterPublisher.DeadLetter(Source(key, value), Rejection, 1_000_000);

        var size = letter.Value!.Length + letter.Key!.Length + letter.Headers.Sum(h => h.Key.Length + h.GetValueBytes().Length);
        Assert.True(size < 1_000_000, $"the letter is {size} bytes");
        Assert.Equal(value[..letter.Value.Length], letter.Value);
        Assert.Equal("2000000", Header(letter, DeadLetterPublisher.TruncatedFromHeader));
        Assert.Equal("50000", Header(letter, DeadLetterPublisher.KeyTruncatedFromHeader));
    }
}
