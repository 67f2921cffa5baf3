using System.Threading.Channels;
using Grpc.Core;

namespace CallRecovery.Tests.SwitchApi;

/// <summary>A server call's context without a server (as grpc-dotnet's own tests have it): a deadline, a cancellation, headers.</summary>
public sealed class TestServerCallContext(CancellationToken cancellationToken) : ServerCallContext
{
    private readonly Metadata _requestHeaders = [];
    private readonly Metadata _responseTrailers = [];
    private Status _status;
    private WriteOptions? _writeOptions;
    private readonly Dictionary<object, object> _userState = [];

    protected override string MethodCore => "/callrecovery.v1.Switching/Connect";

    protected override string HostCore => "localhost";

    protected override string PeerCore => "ipv4:127.0.0.1:50000";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore => _requestHeaders;

    protected override CancellationToken CancellationTokenCore => cancellationToken;

    protected override Metadata ResponseTrailersCore => _responseTrailers;

    protected override Status StatusCore { get => _status; set => _status = value; }

    protected override WriteOptions? WriteOptionsCore { get => _writeOptions; set => _writeOptions = value; }

    protected override AuthContext AuthContextCore => new(null, []);

    protected override IDictionary<object, object> UserStateCore => _userState;

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}

/// <summary>The switch's side of the request stream: the test writes messages, the service reads them.</summary>
public sealed class TestAsyncStreamReader<T> : IAsyncStreamReader<T>
{
    private readonly Channel<T> _messages = Channel.CreateUnbounded<T>();

    public T Current { get; private set; } = default!;

    public void Write(T message) => _messages.Writer.TryWrite(message);

    /// <summary>The switch ends its side of the stream.</summary>
    public void Complete() => _messages.Writer.TryComplete();

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (await _messages.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) && _messages.Reader.TryRead(out var message))
        {
            Current = message;
            return true;
        }

        return false;
    }
}

/// <summary>The service's side of the response stream: what it writes, in order, for the test to read (one writer at a time, as gRPC requires).</summary>
public sealed class TestServerStreamWriter<T> : IServerStreamWriter<T>
{
    private readonly Channel<T> _written = Channel.CreateUnbounded<T>();
    private int _writing;

    public WriteOptions? WriteOptions { get; set; }

    public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    public Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.Exchange(ref _writing, 1) != 0)
        {
            throw new InvalidOperationException("Concurrent writes to a gRPC response stream.");
        }

        _written.Writer.TryWrite(message);
        Volatile.Write(ref _writing, 0);
        return Task.CompletedTask;
    }

    /// <summary>The next message the service wrote, within the time limit.</summary>
    public async Task<T> NextAsync() => await _written.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    public bool TryNext(out T message) => _written.Reader.TryRead(out message!);
}
