using System.Diagnostics;
using System.Net;
using System.Threading.Channels;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace CallRecovery.Benchmark;

/// <summary>
/// The bare pipeline limit: each component the service is built from, driven alone on this machine with no
/// service logic, as fast as it goes. The slowest of the three bounds what the service could reach.
/// </summary>
public static class BareLimits
{
    /// <summary>Per event, about what the service's decision asks of Redis: a dedup SET NX, a window INCR + EXPIRE, a small record HSET with a TTL.</summary>
    private const string DecisionScript = """
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
          return 0
        end
        local n = redis.call('INCR', KEYS[2])
        redis.call('EXPIRE', KEYS[2], ARGV[3])
        redis.call('HSET', KEYS[3], 'recoveryId', ARGV[1], 'state', 'Scheduled', 'dueAt', ARGV[2], 'switch', 'bench-switch')
        redis.call('EXPIRE', KEYS[3], ARGV[3])
        return n
        """;

    /// <summary>A bare consumer reading a backlog of <paramref name="count"/> drops from the same broker and partitions: messages/s from the first message to the last.</summary>
    public static async Task<(double Rate, long Lost)> KafkaConsumerAsync(Rig rig, int count)
    {
        var topics = rig.CreateTopics("bare-kafka");
        for (var i = 0; i < count; i++)
        {
            rig.Publish(topics.Input, $"bare-kafka-{i}");
        }

        rig.Flush();
        var evicted = rig.Evicted(topics.Input);
        return await Task.Factory.StartNew(() =>
        {
            using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
            {
                BootstrapServers = rig.Kafka.BootstrapServers,
                GroupId = "bench.bare-kafka",
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
            }).SetLogHandler((_, _) => { }).Build();
            consumer.Subscribe(topics.Input);
            var read = 0;
            var first = 0L;
            var deadline = Stopwatch.StartNew();
            while (read < count - evicted && deadline.Elapsed < TimeSpan.FromMinutes(5))
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message.Value: not null })
                {
                    if (read++ == 0)
                    {
                        first = Stopwatch.GetTimestamp();
                    }
                }
            }

            var seconds = Poll.Seconds(first, Stopwatch.GetTimestamp());
            consumer.Close();
            return ((read - 1) / seconds, count - read);
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>The decision-like script <paramref name="count"/> times on the same redis-server, with up to 2,000 in flight: scripts/s.</summary>
    public static async Task<double> RedisScriptsAsync(Rig rig, int count)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(rig.RedisConnectionString);
        var db = redis.GetDatabase();
        var script = LuaScript.Prepare(DecisionScript);
        var loaded = await script.LoadAsync(redis.GetServer(redis.GetEndPoints()[0]));
        const int InFlight = 2_000;
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < count; start += InFlight)
        {
            var batch = Enumerable.Range(start, Math.Min(InFlight, count - start)).Select(i => db.ScriptEvaluateAsync(
                loaded.Hash,
                [$"bare:{{c:{i}}}:dedup", $"bare:{{s:{i % 5000}}}:window", $"bare:{{c:{i}}}:recovery"],
                [$"recovery-{i}", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 3600]));
            await Task.WhenAll(batch);
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// The switching protocol's messages per recovery on bare gRPC streams (h2c, loopback, a minimal Grpc.AspNetCore
    /// server in this process): the server sends a CallbackCommand, the client answers CommandAck and OutcomeReport,
    /// the server confirms with ReportReceived. <paramref name="streams"/> streams, each with <paramref name="window"/>
    /// unacknowledged commands at most, as the service's window: recoveries/s.
    /// </summary>
    public static async Task<double> GrpcStreamsAsync(int count, int streams, int window)
    {
        var port = FaultMatrix.OwnedProcesses.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new BareSwitching.Budget(count, window));
        await using var app = builder.Build();
        app.MapGrpcService<BareSwitching>();
        await app.StartAsync();
        try
        {
            var done = 0;
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var clock = Stopwatch.StartNew();
            using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var clients = Enumerable.Range(0, streams).Select(_ => Task.Run(async () =>
            {
                using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
                using var call = new Switching.SwitchingClient(channel).Connect(cancellationToken: stop.Token);
                var outbox = Channel.CreateUnbounded<SwitchMessage>(new UnboundedChannelOptions { SingleReader = true });
                var writer = Task.Run(async () =>
                {
                    await foreach (var message in outbox.Reader.ReadAllAsync(stop.Token))
                    {
                        await call.RequestStream.WriteAsync(message, stop.Token);
                    }

                    await call.RequestStream.CompleteAsync();
                });
                await foreach (var message in call.ResponseStream.ReadAllAsync(stop.Token))
                {
                    if (message.Command is { } command)
                    {
                        outbox.Writer.TryWrite(new SwitchMessage { Ack = new CommandAck { RecoveryId = command.RecoveryId, Attempt = command.Attempt, Accepted = true } });
                        outbox.Writer.TryWrite(new SwitchMessage { Outcome = new OutcomeReport { RecoveryId = command.RecoveryId, Outcome = Outcome.Busy, At = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) } });
                    }
                    else if (message.ReportReceived is not null && Interlocked.Increment(ref done) == count)
                    {
                        finished.TrySetResult();
                    }

                    if (finished.Task.IsCompleted)
                    {
                        break;
                    }
                }

                outbox.Writer.TryComplete();
                await writer;
            })).ToList();
            await finished.Task.WaitAsync(stop.Token);
            var seconds = clock.Elapsed.TotalSeconds;
            await stop.CancelAsync();
            await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return count / seconds;
        }
        finally
        {
            await app.StopAsync();
        }
    }
}

/// <summary>The minimal switching server of the bare limit: commands out within the window, acknowledgements free it, outcomes are confirmed.</summary>
public sealed class BareSwitching(BareSwitching.Budget budget) : Switching.SwitchingBase
{
    public override async Task Connect(IAsyncStreamReader<SwitchMessage> requestStream, IServerStreamWriter<ServiceMessage> responseStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        using var window = new SemaphoreSlim(budget.Window);
        var outbox = Channel.CreateUnbounded<ServiceMessage>(new UnboundedChannelOptions { SingleReader = true });
        var sender = Task.Run(async () =>
        {
            await foreach (var message in outbox.Reader.ReadAllAsync(token))
            {
                await responseStream.WriteAsync(message, token);
            }
        }, token);
        var commands = Task.Run(async () =>
        {
            while (budget.TryTake(out var n))
            {
                await window.WaitAsync(token);
                var now = DateTimeOffset.UtcNow;
                outbox.Writer.TryWrite(new ServiceMessage
                {
                    Command = new CallbackCommand
                    {
                        RecoveryId = $"0190a3c2-7d4e-8f00-b123-{n:000000000000}.bare-{n}",
                        CallId = $"bare-{n}",
                        Customer = "+447500000001",
                        OtherParty = "+447600000001",
                        Announcement = new Announcement { PromptId = "recovery.apology.free-reconnect", Language = "en" },
                        Deadline = Timestamp.FromDateTimeOffset(now.AddMinutes(5)),
                        Attempt = 1,
                        DropTime = Timestamp.FromDateTimeOffset(now),
                        ReleaseCause = "q850:41",
                    },
                });
            }
        }, token);
        try
        {
            await foreach (var message in requestStream.ReadAllAsync(token))
            {
                if (message.Ack is not null)
                {
                    window.Release();
                }
                else if (message.Outcome is { } outcome)
                {
                    outbox.Writer.TryWrite(new ServiceMessage { ReportReceived = new ReportReceived { RecoveryId = outcome.RecoveryId, Outcome = outcome.Outcome } });
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }

        outbox.Writer.TryComplete();
        await Task.WhenAll(sender, commands).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>How many commands are left to send across all streams, and the window per stream.</summary>
    public sealed class Budget(int count, int window)
    {
        private int _left = count;

        public int Window => window;

        public bool TryTake(out int n)
        {
            n = Interlocked.Decrement(ref _left);
            return n >= 0;
        }
    }
}
