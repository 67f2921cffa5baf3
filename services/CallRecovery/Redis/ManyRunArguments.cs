using System.Buffers;
using System.Buffers.Binary;
using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// A many-run's arguments as the one argument <see cref="RedisScript.Many"/> unpacks with Redis's <c>cmsgpack</c>: a
/// MessagePack array of the calls' key counts (an array of integers), then each call's arguments (an array of strings,
/// byte for byte as Redis would have received them alone). Sent as separate arguments, each of the run's thousands of
/// values cost the client a bulk string of its own and Redis an argument object and a copy into the call's table;
/// packed, the run is one bulk string. Only the formats Redis's <c>cmsgpack</c> reads are written (strings, not
/// MessagePack's bin, which it refuses), and only these three headers, so they are written here rather than through a
/// serializer that would need a buffer writer and a copy per value.
/// </summary>
/// <remarks>
/// The bytes live in a pooled buffer until the run's reply is in (<see cref="Replied"/>): a run without its reply (the
/// connection failed, it timed out) may still be queued in the client, so its buffer, like that of a run answered
/// with an error other than CROSSSLOT, is left to the collector rather than handed to the next run. A run is one
/// bulk string for Redis, which refuses one longer than its <c>proto-max-bulk-len</c> (512 MB by default): a run
/// that would pack to more than <see cref="MostBytes"/> is not packed (its calls go apart, as sent alone).
/// </remarks>
internal sealed class ManyRunArguments : IDisposable
{
    /// <summary>Most bytes one packed run takes, far below Redis's default limit for one bulk string (512 MB).</summary>
    public const int MostBytes = 64 * 1024 * 1024;

    private byte[]? _buffer;
    private bool _replied;

    private ManyRunArguments(byte[] buffer, int length)
    {
        _buffer = buffer;
        Value = new ReadOnlyMemory<byte>(buffer, 0, length);
    }

    /// <summary>The packed arguments, as the run's ARGV[1].</summary>
    public RedisValue Value { get; }

    /// <summary>
    /// Packs the arguments of <paramref name="calls"/> at the positions in <paramref name="chunk"/>, in that order;
    /// null when they would take more than <paramref name="mostBytes"/>.
    /// </summary>
    public static ManyRunArguments? Pack(IReadOnlyList<ScriptCall> calls, int[] chunk, int mostBytes = MostBytes)
    {
        var valueCount = 0;
        foreach (var i in chunk)
        {
            valueCount += calls[i].Values.Length;
        }

        // Each value's length, counted once (a string's is a pass over its UTF-8), for the bound and for its header.
        var lengths = ArrayPool<int>.Shared.Rent(valueCount);
        try
        {
            // An upper bound: a header takes at most 5 bytes (array 32, string 32, unsigned 32).
            var (size, v) = (5 + 5 + (5L * chunk.Length), 0);
            foreach (var i in chunk)
            {
                size += 5;
                foreach (var value in calls[i].Values)
                {
                    // As the client refuses a null argument to a script sent alone.
                    if (value.IsNull)
                    {
                        throw new ArgumentException("A script argument cannot be null.", nameof(calls));
                    }

                    lengths[v] = value.GetByteCount();
                    size += 5 + lengths[v++];
                }
            }

            return size > mostBytes ? null : Write(calls, chunk, lengths, (int)size);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    private static ManyRunArguments Write(IReadOnlyList<ScriptCall> calls, int[] chunk, int[] lengths, int size)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var at = ArrayHeader(buffer, 0, 1 + chunk.Length);
        at = ArrayHeader(buffer, at, chunk.Length);
        foreach (var i in chunk)
        {
            at = Count(buffer, at, calls[i].Keys.Length);
        }

        var v = 0;
        foreach (var i in chunk)
        {
            var values = calls[i].Values;
            at = ArrayHeader(buffer, at, values.Length);
            foreach (var value in values)
            {
                var length = lengths[v++];
                at = StringHeader(buffer, at, length);
                at += value.CopyTo(buffer.AsSpan(at, length));
            }
        }

        return new ManyRunArguments(buffer, at);
    }

    /// <summary>The run's reply came in: Redis has read the arguments, and the buffer may serve another run.</summary>
    public void Replied() => _replied = true;

    public void Dispose()
    {
        if (_replied && _buffer is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        _buffer = null;
    }

    // MessagePack: fixarray 0x90-0x9f, array 16 0xdc, array 32 0xdd.
    private static int ArrayHeader(byte[] buffer, int at, int count) => count switch
    {
        < 16 => One(buffer, at, (byte)(0x90 | count)),
        <= ushort.MaxValue => Sixteen(buffer, at, 0xdc, count),
        _ => ThirtyTwo(buffer, at, 0xdd, count),
    };

    // MessagePack: fixstr 0xa0-0xbf, str 8 0xd9, str 16 0xda, str 32 0xdb.
    private static int StringHeader(byte[] buffer, int at, int length)
    {
        switch (length)
        {
            case < 32:
                return One(buffer, at, (byte)(0xa0 | length));
            case <= byte.MaxValue:
                buffer[at] = 0xd9;
                buffer[at + 1] = (byte)length;
                return at + 2;
            case <= ushort.MaxValue:
                return Sixteen(buffer, at, 0xda, length);
            default:
                return ThirtyTwo(buffer, at, 0xdb, length);
        }
    }

    // MessagePack: positive fixint 0x00-0x7f, uint 16 0xcd, uint 32 0xce.
    private static int Count(byte[] buffer, int at, int count) => count switch
    {
        < 0x80 => One(buffer, at, (byte)count),
        <= ushort.MaxValue => Sixteen(buffer, at, 0xcd, count),
        _ => ThirtyTwo(buffer, at, 0xce, count),
    };

    private static int One(byte[] buffer, int at, byte value)
    {
        buffer[at] = value;
        return at + 1;
    }

    private static int Sixteen(byte[] buffer, int at, byte marker, int value)
    {
        buffer[at] = marker;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 1), (ushort)value);
        return at + 3;
    }

    private static int ThirtyTwo(byte[] buffer, int at, byte marker, int value)
    {
        buffer[at] = marker;
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(at + 1), (uint)value);
        return at + 5;
    }
}
