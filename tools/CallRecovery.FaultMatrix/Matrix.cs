using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using CallRecovery.Amends;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using CallRecovery.EmbeddedKafka;
using CallRecovery.SwitchEmulator;
using Confluent.Kafka;
using Google.Protobuf;
using StackExchange.Redis;

namespace CallRecovery.FaultMatrix;

/// <summary>One row of the matrix: a fault kind and what the history checker found.</summary>
/// <remarks>
/// A duplicate execution by recovery id is a callback of a recovery (its callback attempt) placed more than once,
/// by one instance or by two of the pool; by call id, a call placed under more than one recovery id. Redeliveries
/// are commands for a callback the pool had already placed (an acknowledgement lost, a stream broken): allowed by
/// the protocol, absorbed by acting once per (recovery id, callback attempt). Callbacks tried again after no answer
/// or busy are new callbacks, not duplicates.
/// </remarks>
public sealed record PhaseResult(string Fault, int Injected, int Drops, int Lost, int DuplicatesByRecovery, int DuplicatesByCall, int Unpublished, int Redeliveries, int CallbacksTriedAgain, TimeSpan WorstDropToCommand, IReadOnlyList<string> Problems)
{
    /// <summary>Recoveries whose compensation is wrong: owed (ended without a reconnect) and not published, or published though not owed.</summary>
    public int MiscompensatedCount { get; init; }

    public bool Green => Lost == 0 && DuplicatesByRecovery == 0 && DuplicatesByCall == 0 && Unpublished == 0 && MiscompensatedCount == 0;
}

/// <summary>How the matrix runs: the durability mode under test (which Redis it runs: <c>Local</c> one primary fsyncing
/// every write; <c>Replicated</c> a primary and a replica; <c>None</c> a primary and a replica fsyncing every second),
/// and whether the planted double send is on (the matrix must then go red).</summary>
public sealed record MatrixOptions(string Durability = "Local", bool PlantDoubleSend = false);

/// <summary>
/// Everything on loopback: librdkafka's mock cluster (in this process), redis-server (a primary, and a replica in the
/// modes that have one) behind a fault proxy (the address a failover moves), two service replicas as processes, and
/// one switch as a pool of two instances, each connected to one replica through a fault proxy, each keeping its own
/// record of what it placed (nothing shared: a callback placed by both is a duplicate). Each phase
/// publishes eligible drops while one kind of fault is injected, heals it, waits until every recovery is final, and
/// checks the history: exactly one terminal state (Completed) per drop, no execution twice (by recovery id and by
/// call id), every final outcome on the outcome topic. The paths of when to call back run through every fault: a
/// quarter of the drops are radio losses whose recovery is held until the customer re-attaches (a
/// <c>SubscriberReachable</c> a second and a half later), and callbacks with no answer or busy are tried again.
/// </summary>
public sealed class Matrix : IAsyncDisposable
{
    private const string Prefix = "fm";
    private const string InputTopic = "fm.events";
    private const string DeadLetterTopic = "fm.dlq";
    private const string OutcomeTopic = "fm.outcomes";
    private const string CompensationTopic = "fm.compensations";
    private static readonly TimeSpan Quiescence = TimeSpan.FromMinutes(3);

    private readonly string _directory = Directory.CreateTempSubdirectory("callrecovery-fault-matrix-").FullName;
    private readonly MatrixOptions _options;
    private readonly MockKafkaCluster _kafka;
    private readonly string _appendFsync;
    private RedisNode _redis;
    private RedisNode? _replica;
    private readonly FaultProxy _redisProxy;
    private readonly ConcurrentQueue<(DateTime At, string? File, long Size)> _appendFileSizes = new();
    private readonly ConcurrentDictionary<string, bool> _deadLettered = new(StringComparer.Ordinal);
    private readonly List<string> _malformed = [];
    private readonly ServiceReplica[] _replicas;
    private readonly FaultProxy[] _switchProxies;
    private readonly EmulatedSwitch[] _instances;
    private readonly ConcurrentDictionary<string, CallbackCommand> _placements = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Outcome> _published = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Outcome> _compensated = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly TextWriter _log;
    private Task _collector = Task.CompletedTask;
    private Task[] _switchRuns = [];
    private ConnectionMultiplexer? _redisClient;
    private int _numbers;

    public Matrix(TextWriter log, MatrixOptions? options = null)
    {
        _log = log;
        _options = options ?? new MatrixOptions();
        BundledLibrdkafka.Load();
        _kafka = new MockKafkaCluster();
        _kafka.CreateTopic(InputTopic, 4);
        _kafka.CreateTopic(DeadLetterTopic, 1);
        _kafka.CreateTopic(OutcomeTopic, 2);
        _kafka.CreateTopic(CompensationTopic, 2);
        // Local: one node, every write fsynced before it is answered (what the mode needs before Redis 7.2). Replicated:
        // a replica too. None: a primary and a replica, each fsyncing once a second.
        _appendFsync = _options.Durability == "None" ? "everysec" : "always";
        _redis = new RedisNode(Directory.CreateDirectory(Path.Combine(_directory, "redis-a")).FullName, _appendFsync);
        if (_options.Durability != "Local")
        {
            _replica = new RedisNode(Directory.CreateDirectory(Path.Combine(_directory, "redis-b")).FullName, _appendFsync) { ReplicaOf = _redis.Port };
        }

        _redisProxy = new FaultProxy(_redis.Port);
        var settings = new Dictionary<string, string>
        {
            ["Kafka:BootstrapServers"] = _kafka.BootstrapServers,
            ["Kafka:GroupId"] = "fm",
            ["Kafka:InputTopics:0"] = InputTopic,
            ["Kafka:DeadLetterTopic"] = DeadLetterTopic,
            ["Kafka:OutcomeTopic"] = OutcomeTopic,
            ["Kafka:CompensationTopic"] = CompensationTopic,
            ["Kafka:MaxRetryDelay"] = "00:00:01",
            // Recovery after a replica dies: its partitions move once the session times out (documented in the README).
            ["Kafka:Consumer:session.timeout.ms"] = "6000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "500",
            ["Kafka:Consumer:statistics.interval.ms"] = "1000",
            // The mock broker answers an empty fetch only after fetch.wait.max.ms.
            ["Kafka:Consumer:fetch.wait.max.ms"] = "50",
            // A broker that stops answering (the mock keeps its sockets open) is given up on after 10 s, not librdkafka's 60 s.
            ["Kafka:Consumer:socket.timeout.ms"] = "10000",
            ["Kafka:Producer:socket.timeout.ms"] = "10000",
            ["Redis:ConnectionString"] = $"127.0.0.1:{_redisProxy.Port},connectTimeout=1000,syncTimeout=3000,asyncTimeout=3000",
            ["Redis:KeyPrefix"] = Prefix,
            ["Policy:CoolOff"] = "00:00:00",
            ["Policy:MaxRecoveriesPerWindow"] = "1000",
            ["Switching:DefaultSwitch"] = "switch-a",
            ["Switching:GracePeriod"] = "00:00:01",
            ["Switching:CallbackDeadline"] = "00:05:00",
            ["Switching:AcknowledgementTimeout"] = "00:00:02",
            ["Switching:StuckConnectionGrace"] = "00:00:04",
            ["Switching:PollInterval"] = "00:00:00.050",
            ["Switching:SweepInterval"] = "00:00:00.250",
            // Callbacks with no answer or busy are tried again (a second after the outcome), so retries run through
            // every fault too. The matrix's load is a storm from one node by design, so the outage guard is off, and
            // quiet hours are off so that a run at night ends the same way.
            ["Retries:Gap"] = "00:00:01",
            ["Outage:Enabled"] = "false",
            ["QuietHours:Enabled"] = "false",
            ["Redis:Durability"] = _options.Durability,
            ["Redis:DurableReplicas"] = "1",
        };
        if (_options.PlantDoubleSend)
        {
            settings["Testing:PlantDoubleSend"] = "true";
        }

        _replicas = [new ServiceReplica("replica-1", settings), new ServiceReplica("replica-2", settings)];
        _switchProxies = [.. _replicas.Select(r => new FaultProxy(r.SwitchingPort))];
        _instances = [.. _switchProxies.Select((proxy, i) => new EmulatedSwitch(new SwitchEmulatorOptions
        {
            ServiceAddress = new Uri($"http://127.0.0.1:{proxy.Port}"),
            SwitchId = "switch-a",
            InstanceId = $"instance-{i + 1}",
            StageDelay = TimeSpan.FromMilliseconds(20),
            ReconnectDelay = TimeSpan.FromMilliseconds(200),
            SharedPlacements = _placements,
            Seed = i + 1,
        }))];
        // Not idempotent: the request errors the matrix pushes (a sequence error among them) would make an idempotent
        // producer fatal; this one retries, and the service decides a drop published twice once.
        _producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = _kafka.BootstrapServers, EnableIdempotence = false, Acks = Acks.All, LingerMs = 5, SocketTimeoutMs = 10_000 })
            .SetLogHandler((_, _) => { })
            .Build();
    }

    public async Task StartAsync()
    {
        await _redis.StartAsync();
        if (_replica is not null)
        {
            await _replica.StartAsync();
            await ReplicatingAsync(_replica);
        }

        // Through the proxy: the checks read whichever node is the primary now.
        _redisClient = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redisProxy.Port},abortConnect=false,allowAdmin=true");
        _ = Task.Factory.StartNew(SampleAppendFile, TaskCreationOptions.LongRunning);
        foreach (var replica in _replicas)
        {
            replica.Start();
        }

        await Task.WhenAll(_replicas.Select(r => r.WaitReadyAsync()));
        _switchRuns = [.. _instances.Select(i => i.RunAsync(_stop.Token))];
        _collector = Task.Factory.StartNew(CollectOutcomes, TaskCreationOptions.LongRunning);
        var warm = await RunPhaseAsync("none (baseline)", 20, _ => Task.FromResult(0));
        _log.WriteLine($"warm-up: {(warm.Green ? "green" : "RED " + string.Join("; ", warm.Problems))}");
    }

    /// <summary>Every fault kind of the short mode, in order.</summary>
    public IReadOnlyList<(string Fault, Func<int, Task<int>> Inject)> Faults() =>
    [
        ("service kill -9 (one of two, twice)", async _ =>
        {
            for (var n = 0; n < 2; n++)
            {
                _replicas[1].Kill();
                await Task.Delay(1500);
                _replicas[1].Start();
                await _replicas[1].WaitReadyAsync();
            }

            return 2;
        }),
        ("rolling graceful restart", async _ =>
        {
            foreach (var replica in _replicas)
            {
                await replica.StopAsync();
                replica.Start();
                await replica.WaitReadyAsync();
            }

            return 2;
        }),
        ("Kafka broker down 5 s", async _ =>
        {
            _kafka.SetBrokerDown(1);
            await Task.Delay(5000);
            _kafka.SetBrokerUp(1);
            return 1;
        }),
        ("Kafka request errors (NOT_COORDINATOR, REBALANCE_IN_PROGRESS)", async _ =>
        {
            _kafka.PushRequestErrors(12, 16, 16, 16);
            _kafka.PushRequestErrors(8, 27, 27);
            _kafka.PushRequestErrors(1, 16, 16);
            await Task.Delay(3000);
            return 3;
        }),
        ("rebalance storm (a member joins and leaves four times)", async _ =>
        {
            for (var n = 0; n < 4; n++)
            {
                // Takes partitions from the replicas, decides nothing, commits nothing, leaves: they replay from the last commit.
                using var member = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
                {
                    BootstrapServers = _kafka.BootstrapServers,
                    GroupId = "fm",
                    EnableAutoCommit = false,
                    EnableAutoOffsetStore = false,
                    PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
                    SessionTimeoutMs = 6000,
                    FetchWaitMaxMs = 50,
                }).SetLogHandler((_, _) => { }).Build();
                member.Subscribe(InputTopic);
                var until = DateTime.UtcNow.AddSeconds(1.5);
                while (DateTime.UtcNow < until)
                {
                    member.Consume(TimeSpan.FromMilliseconds(100));
                }

                member.Close();
            }

            return 4;
        }),
        ("Redis graceful restart", async _ =>
        {
            await _redis.ShutdownAsync();
            await Task.Delay(1000);
            await _redis.StartAsync();
            return 1;
        }),
        ($"Redis kill -9 (the process; appendfsync {_appendFsync})", async _ =>
        {
            _redis.Kill();
            await Task.Delay(1000);
            await _redis.StartAsync();
            return 1;
        }),
        ("Redis full (maxmemory) 10 s", async _ =>
        {
            await PrimaryAsync().ConfigSetAsync("maxmemory", "1");
            await Task.Delay(10_000);
            await PrimaryAsync().ConfigSetAsync("maxmemory", "0");
            return 1;
        }),
        (_replica is null ? "Redis host crash (kill -9, append-only file cut to its last fsync), restarted" : "Redis host crash (kill -9, append-only file cut to its last fsync), failed over to the replica", async _ =>
        {
            if (_replica is null)
            {
                _redis.Kill();
                CutToLastFsync(_redis);
                await Task.Delay(1000);
                await _redis.StartAsync();
            }
            else
            {
                await FailOverAsync(cut: true);
            }

            return 1;
        }),
        .. _replica is null ? Array.Empty<(string, Func<int, Task<int>>)>() : [("Redis primary fails over to its replica (kill -9, promoted)", async _ =>
        {
            await FailOverAsync(cut: false);
            return 1;
        })],
        ("dead-letter topic refuses writes (20 produce requests)", async _ =>
        {
            var phase = Guid.NewGuid().ToString("N")[..6];
            for (var n = 0; n < 3; n++)
            {
                var key = $"fm-bad-{phase}-{n}";
                lock (_malformed)
                {
                    _malformed.Add(key);
                }

                await PublishRawAsync(key, "not a network event"u8.ToArray());
            }

            _kafka.PushRequestErrors(0, [.. Enumerable.Repeat(29, 20)]);
            await Task.Delay(3000);
            return 1;
        }),
        ("fatal producer error (out-of-order sequence, three produce requests)", async _ =>
        {
            _kafka.PushRequestErrors(0, 45, 45, 45);
            await Task.Delay(3000);
            return 1;
        }),
        ("Redis link latency 150 ms, then reset", async _ =>
        {
            _redisProxy.Latency(TimeSpan.FromMilliseconds(150));
            await Task.Delay(3000);
            _redisProxy.ResetAll();
            _redisProxy.Heal();
            return 2;
        }),
        ("switch disconnect (three times)", async _ =>
        {
            for (var n = 0; n < 3; n++)
            {
                _instances[n % 2].Disconnect();
                await Task.Delay(700);
            }

            return 3;
        }),
        ("lost acknowledgements (five)", async _ =>
        {
            _instances[0].LoseAcknowledgements(5);
            await Task.Delay(3000);
            return 5;
        }),
        ("switch instance stops reading, still answers pings (8 s)", async _ =>
        {
            _instances[1].PauseReading(true);
            await Task.Delay(8000);
            _instances[1].PauseReading(false);
            return 1;
        }),
        ("frozen switch instance (half-open link 8 s)", async _ =>
        {
            _switchProxies[0].BlackHole(true);
            await Task.Delay(8000);
            _switchProxies[0].Heal();
            return 1;
        }),
    ];

    /// <summary>
    /// Publishes drops at <paramref name="rate"/> per second (the short mode's 33/s spreads 30 drops over about a
    /// second; the long mode publishes faster), injects the fault a third of the way in, then checks the history.
    /// </summary>
    public async Task<PhaseResult> RunPhaseAsync(string fault, int drops, Func<int, Task<int>> inject, double rate = 33)
    {
        var phase = Guid.NewGuid().ToString("N")[..6];
        lock (_malformed)
        {
            _malformed.Clear();
        }

        var callIds = new List<string>();
        var dropToCommandBefore = _instances.Select(i => i.DropToCommand.Count).ToArray();
        var redeliveriesBefore = _instances.Sum(i => i.Duplicates);
        var injected = 0;
        var publishing = Task.Run(async () =>
        {
            var clock = Stopwatch.StartNew();
            var sent = new List<Task>();
            for (var i = 0; i < drops; i++)
            {
                var callId = $"fm-{phase}-{i:0000}";
                lock (callIds)
                {
                    callIds.Add(callId);
                }

                // Every fourth drop is a radio loss: its recovery waits for the customer to re-attach (a second and a half later).
                sent.Add(PublishDropAsync(callId, radioLoss: i % 4 == 3));
                var due = TimeSpan.FromSeconds((i + 1) / rate);
                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed);
                }
            }

            await Task.WhenAll(sent);
        });
        while (true)
        {
            lock (callIds)
            {
                if (callIds.Count >= drops / 3)
                {
                    break;
                }
            }

            await Task.Delay(20);
        }

        injected = await inject(drops);
        await publishing;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Quiescence && !await AllFinalAsync(callIds))
        {
            await Task.Delay(250);
        }

        while (clock.Elapsed < Quiescence && (_instances.Any(i => i.Unconfirmed > 0) || !callIds.All(c => _published.ContainsKey(RecoveryId(c))) || Malformed().Any(k => !_deadLettered.ContainsKey(k))
            || callIds.Any(c => _published.TryGetValue(RecoveryId(c), out var outcome) && Compensations.IsOwed(outcome) && !_compensated.ContainsKey(RecoveryId(c)))))
        {
            await Task.Delay(250);
        }

        return await CheckAsync(fault, injected, callIds, dropToCommandBefore, _instances.Sum(i => i.Duplicates) - redeliveriesBefore);
    }

    private async Task<PhaseResult> CheckAsync(string fault, int injected, List<string> callIds, int[] dropToCommandBefore, int redeliveries)
    {
        var db = _redisClient!.GetDatabase();
        var problems = new List<string>();
        var lost = 0;
        var unpublished = 0;
        var states = await Task.WhenAll(callIds.Select(c => db.HashGetAsync($"{Prefix}:{{c:{c}}}:recovery", "state")));
        foreach (var (callId, value) in callIds.Zip(states))
        {
            var state = (string?)value;
            if (state != "Completed")
            {
                lost++;
                problems.Add($"{callId}: {state ?? "no recovery"}");
            }

            if (!_published.ContainsKey(RecoveryId(callId)))
            {
                unpublished++;
            }
        }

        foreach (var key in Malformed().Where(k => !_deadLettered.ContainsKey(k)))
        {
            // An unusable event must reach the dead-letter topic, however long the topic refused it.
            lost++;
            problems.Add($"{key}: not dead-lettered");
        }

        var calls = callIds.ToHashSet(StringComparer.Ordinal);
        var recoveryIds = callIds.Select(RecoveryId).ToHashSet(StringComparer.Ordinal);
        var mine = _placements.Values.Where(c => calls.Contains(c.CallId)).ToList();
        var byCall = mine.GroupBy(c => c.CallId).Count(g => g.Select(c => c.RecoveryId).Distinct().Count() > 1);
        var byRecovery = _instances.SelectMany(i => i.Placements).Where(p => recoveryIds.Contains(p.RecoveryId)).GroupBy(p => (p.RecoveryId, p.CallbackAttempt)).Count(g => g.Count() > 1);
        var worst = _instances.SelectMany((instance, n) => instance.DropToCommand.Skip(dropToCommandBefore[n])).DefaultIfEmpty(TimeSpan.Zero).Max();
        // Callbacks after a no answer or busy: the retry path runs through every fault too.
        var triedAgain = _instances.SelectMany(i => i.Placements).Count(p => recoveryIds.Contains(p.RecoveryId) && p.CallbackAttempt > 1);
        // One compensation for each recovery that ended without a reconnect, none for the others.
        var miscompensated = 0;
        foreach (var recoveryId in recoveryIds.Where(_published.ContainsKey))
        {
            var owed = Compensations.IsOwed(_published[recoveryId]);
            if (owed != _compensated.ContainsKey(recoveryId))
            {
                miscompensated++;
                problems.Add($"{recoveryId}: ended {_published[recoveryId]}, {(owed ? "no compensation" : "compensated though not owed")}");
            }
        }

        return new PhaseResult(fault, injected, callIds.Count, lost, byRecovery, byCall, unpublished, redeliveries, triedAgain, worst, [.. problems.Take(5)]) { MiscompensatedCount = miscompensated };
    }

    private async Task<bool> AllFinalAsync(IReadOnlyList<string> callIds)
    {
        try
        {
            var db = _redisClient!.GetDatabase();
            var states = await Task.WhenAll(callIds.Select(c => db.HashGetAsync($"{Prefix}:{{c:{c}}}:recovery", "state")));
            return states.All(s => s == "Completed" || s == "Expired" || s == "Cancelled");
        }
        catch (RedisException)
        {
            return false;
        }
    }

    private async Task PublishDropAsync(string callId, bool radioLoss)
    {
        // Dropped a second ago.
        var drop = EligibleDrops.Create(callId, Interlocked.Increment(ref _numbers), DateTimeOffset.UtcNow.AddSeconds(-1), "msc-fm-1");
        if (!radioLoss)
        {
            await PublishAsync(callId, drop);
            return;
        }

        drop.CallDropped.ReleaseCause = new ReleaseCause { Protocol = CauseProtocol.Radio, Name = "radio-connection-with-ue-lost" };
        await PublishAsync(callId, drop);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await PublishAsync(callId, new NetworkEvent
        {
            SubscriberReachable = new SubscriberReachable
            {
                EventId = callId + "/reattach",
                Number = drop.CallDropped.Caller,
                At = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
                Reason = ReachabilityReason.Attach,
            },
        });
    }

    private async Task PublishAsync(string key, NetworkEvent networkEvent)
    {
        while (true)
        {
            try
            {
                await _producer.ProduceAsync(InputTopic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = networkEvent.ToByteArray() });
                return;
            }
            catch (ProduceException<byte[]?, byte[]?>)
            {
                // The broker is down on purpose: the network probe retries, as ours would.
                await Task.Delay(200);
            }
        }
    }

    private void CollectOutcomes()
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = _kafka.BootstrapServers,
            GroupId = "fm.checker",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            FetchWaitMaxMs = 50,
            SocketTimeoutMs = 10_000,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign([new TopicPartitionOffset(OutcomeTopic, 0, Offset.Beginning), new TopicPartitionOffset(OutcomeTopic, 1, Offset.Beginning), new TopicPartitionOffset(DeadLetterTopic, 0, Offset.Beginning),
            new TopicPartitionOffset(CompensationTopic, 0, Offset.Beginning), new TopicPartitionOffset(CompensationTopic, 1, Offset.Beginning)]);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is { IsPartitionEOF: false, Topic: DeadLetterTopic, Message.Key: { } key })
                {
                    _deadLettered[Encoding.UTF8.GetString(key)] = true;
                }
                else if (result is { IsPartitionEOF: false, Topic: CompensationTopic, Message.Value: { } amends })
                {
                    var compensation = Contracts.V1.Compensation.Parser.ParseFrom(amends);
                    _compensated[compensation.RecoveryId] = compensation.Outcome;
                }
                else if (result is { IsPartitionEOF: false, Message.Value: { } value })
                {
                    var update = RecoveryUpdate.Parser.ParseFrom(value);
                    if (update.ChangeCase == RecoveryUpdate.ChangeOneofCase.Outcome)
                    {
                        _published[update.RecoveryId] = update.Outcome;
                    }
                }
            }
            catch (ConsumeException)
            {
                // The broker is down on purpose; the checker reads on when it is back.
            }
        }
    }

    private List<string> Malformed()
    {
        lock (_malformed)
        {
            return [.. _malformed];
        }
    }

    private IServer PrimaryAsync() => _redisClient!.GetServer(_redisClient.GetEndPoints()[0]);

    /// <summary>
    /// The primary's host is lost (kill -9; with <paramref name="cut"/>, its append-only file cut to its last fsync);
    /// the replica is promoted and the address moves to it (what Sentinel or a cluster does); the old host comes back
    /// as the new primary's replica.
    /// </summary>
    private async Task FailOverAsync(bool cut)
    {
        var (old, promoted) = (_redis, _replica!);
        old.Kill();
        if (cut)
        {
            CutToLastFsync(old);
        }

        await using (var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{promoted.Port},allowAdmin=true"))
        {
            await admin.GetServer(admin.GetEndPoints()[0]).ExecuteAsync("REPLICAOF", "NO", "ONE");
        }

        _redisProxy.Retarget(promoted.Port);
        (_redis, _replica) = (promoted, old);
        old.ReplicaOf = promoted.Port;
        await Task.Delay(1000);
        await old.StartAsync();
    }

    private static async Task ReplicatingAsync(RedisNode replica)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{replica.Port},allowAdmin=true");
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        while (!(await server.InfoAsync("replication")).SelectMany(g => g).Any(p => p.Key == "master_link_status" && p.Value == "up"))
        {
            await Task.Delay(100);
        }
    }

    /// <summary>The size of the primary's current append-only file every 100 ms: where a crash cuts it back to.</summary>
    private void SampleAppendFile()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var file = _redis.CurrentAppendFile();
                _appendFileSizes.Enqueue((DateTime.UtcNow, file, file is null ? 0 : new FileInfo(file).Length));
                while (_appendFileSizes.Count > 100 && _appendFileSizes.TryDequeue(out _))
                {
                }
            }
            catch (IOException)
            {
                // Rewritten just then.
            }

            Thread.Sleep(100);
        }
    }

    /// <summary>
    /// What a host crash leaves on disk: the append-only file as last fsynced. Under appendfsync always every answered
    /// write was fsynced, so nothing is cut; under everysec, what was appended within the last second is.
    /// </summary>
    private void CutToLastFsync(RedisNode node)
    {
        if (_appendFsync == "always" || node.CurrentAppendFile() is not { } file)
        {
            return;
        }

        var cutoff = DateTime.UtcNow.AddSeconds(-1);
        var fsynced = _appendFileSizes.Where(s => s.File == file && s.At <= cutoff).Select(s => s.Size).DefaultIfEmpty(-1).Last();
        if (fsynced >= 0 && fsynced < new FileInfo(file).Length)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Write);
            _log.WriteLine($"       host crash: the append-only file cut from {stream.Length} to {fsynced} bytes");
            stream.SetLength(fsynced);
        }
    }

    private async Task PublishRawAsync(string key, byte[] value)
    {
        while (true)
        {
            try
            {
                await _producer.ProduceAsync(InputTopic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value });
                return;
            }
            catch (ProduceException<byte[]?, byte[]?>)
            {
                await Task.Delay(200);
            }
        }
    }

    private static string RecoveryId(string callId) => CallRecovery.Recoveries.RecoveryIds.For(callId);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_switchRuns.Append(_collector)).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var instance in _instances)
        {
            await instance.DisposeAsync();
        }

        foreach (var replica in _replicas)
        {
            replica.Kill();
        }

        foreach (var proxy in _switchProxies.Append(_redisProxy))
        {
            await proxy.DisposeAsync();
        }

        _redis.Kill();
        _replica?.Kill();
        _redisClient?.Dispose();
        _producer.Dispose();
        _kafka.Dispose();
        OwnedProcesses.KillAll();
        Directory.Delete(_directory, recursive: true);
        _stop.Dispose();
    }
}
