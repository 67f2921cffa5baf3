using System.Globalization;
using CallRecovery.Delivery;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Redis;
using CsCheck;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Queueing, holding and giving back commands on a switch (<c>enqueue.lua</c>, <c>park.lua</c>, <c>requeue.lua</c>
/// in a real redis-server) held to their rules written out plainly here, command by command in order: a priority
/// command's id is remembered; "move" takes it out of in-flight and supervision and makes it due then; "ensure"
/// queues it only if it is neither queued nor in flight (a replay never sends twice); every command gets a deadline
/// if it has none; a held one is out of every due set and in-flight; one given back moves to its due set only if it
/// is still in flight. The scripts do each step for all of a run's commands at once: over random queues and runs,
/// with call ids named once and named again, they must end where command by command would.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class SwitchQueueScriptTests(Infrastructure infrastructure) : IAsyncLifetime
{
    private static readonly RedisScript Requeue = LuaResources.Load("requeue.lua");
    private static readonly long Start = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private readonly RedisOptions _redisOptions = new() { KeyPrefix = "queue-" + Guid.NewGuid().ToString("N")[..8], Retention = TimeSpan.FromHours(2) };
    private ConnectionMultiplexer _redis = null!;
    private int _switches;

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(infrastructure.Redis.ConnectionString);

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task Every_command_queued_at_once_ends_where_it_would_one_by_one()
    {
        var command = Gen.Select(Gen.Int[0, 600], Gen.Int[0, 3_600], Gen.Bool, Gen.Int[0, 9]).Select((due, deadline, move, priority) => (due, deadline, move, priority: priority == 0));
        var ids = Gen.Int[8, 40];
        await Gen.Select(Placed.Gen.Array[40], ids, command.List[1, 30], Gen.Bool).SampleAsync(async sample =>
        {
            var (start, pool, commands, once) = sample;
            // Named once: each command a call id of its own; otherwise from a small pool, so some come twice.
            var run = commands.Select((c, n) => new QueuedCommand(
                "call-" + (once ? n : n * 7 % Math.Min(pool, commands.Count + 3)).ToString(CultureInfo.InvariantCulture),
                DateTimeOffset.FromUnixTimeMilliseconds(Start + (c.due * 1_000L)), DateTimeOffset.FromUnixTimeMilliseconds(Start + (c.deadline * 1_000L)), c.move, c.priority)).ToList();
            await CheckAsync(start, run);
        }, iter: 500);
    }

    [Fact]
    public async Task Commands_held_at_once_end_where_they_would_one_by_one()
    {
        // Held (an outage, a customer out of coverage): out of due, due first and in flight; a deadline kept or added
        // (the first named, for a call id named twice).
        var held = Gen.Select(Gen.Int[0, 50], Gen.Int[0, 3_600]).Select((call, deadline) => ("call-" + call.ToString(CultureInfo.InvariantCulture), deadline));
        await Gen.Select(Placed.Gen.Array[40], held.List[1, 700]).SampleAsync(async sample =>
        {
            var (start, run) = sample;
            var parked = run.Select(h => (h.Item1, DateTimeOffset.FromUnixTimeMilliseconds(Start + (h.deadline * 1_000L)))).ToList();
            await CheckAsync(start, model =>
            {
                foreach (var (callId, deadline) in parked)
                {
                    model.Park(callId, deadline.ToUnixTimeMilliseconds());
                }
            }, (queues, switchId) => queues.ParkAsync(switchId, parked));
        }, iter: 200);
    }

    [Fact]
    public async Task A_run_of_thousands_of_commands_is_queued_in_lots_and_ends_as_one_by_one()
    {
        // More values than one command takes at once (1,000 a lot): 2,500 commands, half in flight or queued before.
        var start = Enumerable.Range(0, 2_500).Select(n => new Placed(n % 5, n % 3 == 0, n % 600, n % 5 == 2 || n % 7 == 0)).ToArray();
        var run = Enumerable.Range(0, 2_500).Select(n => new QueuedCommand("call-" + n.ToString(CultureInfo.InvariantCulture),
            DateTimeOffset.FromUnixTimeMilliseconds(Start + (n * 7 % 600 * 1_000L)), DateTimeOffset.FromUnixTimeMilliseconds(Start + 3_600_000L), n % 4 == 0, n % 10 == 0)).ToList();
        await CheckAsync(start, run);
    }

    [Fact]
    public async Task Commands_given_back_at_once_end_where_they_would_one_by_one()
    {
        // Given back (a rejection, a broken connection, an acknowledgement timed out): only those still in flight,
        // to their due set (due first for a priority one); a call id named twice moves once, at its first due time.
        // The run as callers' calls merged make it: each command with its own due time.
        var back = Gen.Select(Gen.Int[0, 50], Gen.Int[0, 600]).Select((call, due) => ("call-" + call.ToString(CultureInfo.InvariantCulture), Start + (due * 1_000L)));
        await Gen.Select(Placed.Gen.Array[40], back.List[1, 700]).SampleAsync(async sample =>
        {
            var (start, run) = sample;
            await CheckAsync(start, model =>
            {
                foreach (var (callId, due) in run)
                {
                    model.Requeue(callId, due);
                }
            }, (_, switchId) =>
            {
                var keys = DeliveryKeys.For(_redisOptions);
                return _redis.GetDatabase().EvaluateEachAsync(Requeue, [new ScriptCall(
                    [keys.Due(switchId), keys.InFlight(switchId), keys.Deadlines(switchId), keys.Supervised(switchId), keys.PriorityDue(switchId), keys.PriorityCalls(switchId)],
                    [.. run.SelectMany(b => new RedisValue[] { b.Item1, b.Item2 })])]);
            }, keepsDeadlines: false);
        }, iter: 200);
    }

    private Task CheckAsync(Placed[] start, IReadOnlyList<QueuedCommand> run) => CheckAsync(start, model =>
    {
        foreach (var command in run)
        {
            model.Enqueue(command);
        }
    }, (queues, switchId) => queues.EnqueueAsync(switchId, run));

    private async Task CheckAsync(Placed[] start, Action<Queue> expect, Func<SwitchQueues, string, Task> act, bool keepsDeadlines = true)
    {
        var switchId = "switch-" + Interlocked.Increment(ref _switches).ToString(CultureInfo.InvariantCulture);
        var keys = DeliveryKeys.For(_redisOptions);
        var model = new Queue();
        var db = _redis.GetDatabase();
        for (var n = 0; n < start.Length; n++)
        {
            var id = "call-" + n.ToString(CultureInfo.InvariantCulture);
            var (set, into) = start[n].Where switch
            {
                1 => (model.Due, keys.Due(switchId)),
                2 => (model.PriorityDue, keys.PriorityDue(switchId)),
                3 => (model.InFlight, keys.InFlight(switchId)),
                4 => (model.Supervised, keys.Supervised(switchId)),
                _ => (null, default(RedisKey)),
            };
            var at = Start + (start[n].At * 1_000L);
            if (set is not null)
            {
                set[id] = at;
                await db.SortedSetAddAsync(into, id, at);
            }

            if (start[n].Priority)
            {
                model.Priority.Add(id);
                await db.SetAddAsync(keys.PriorityCalls(switchId), id);
            }

            if (start[n].Deadline)
            {
                model.Deadlines[id] = at + 60_000;
                await db.SortedSetAddAsync(keys.Deadlines(switchId), id, at + 60_000);
            }
        }

        expect(model);
        await act(new SwitchQueues(_redis, Options.Create(_redisOptions)), switchId);

        Assert.Equal(Sorted(model.Due), await ReadAsync(keys.Due(switchId)));
        Assert.Equal(Sorted(model.PriorityDue), await ReadAsync(keys.PriorityDue(switchId)));
        Assert.Equal(Sorted(model.InFlight), await ReadAsync(keys.InFlight(switchId)));
        Assert.Equal(Sorted(model.Supervised), await ReadAsync(keys.Supervised(switchId)));
        Assert.Equal(Sorted(model.Deadlines), await ReadAsync(keys.Deadlines(switchId)));
        Assert.Equal(model.Priority.Order(StringComparer.Ordinal), (await db.SetMembersAsync(keys.PriorityCalls(switchId))).Select(v => v.ToString()).Order(StringComparer.Ordinal));
        // The deadlines expire on their own, a retention after their last command (giving back leaves them as they are).
        if (keepsDeadlines)
        {
            Assert.InRange((await db.KeyTimeToLiveAsync(keys.Deadlines(switchId)))!.Value, _redisOptions.Retention - TimeSpan.FromMinutes(1), _redisOptions.Retention);
        }

        async Task<List<(string, long)>> ReadAsync(RedisKey key) =>
            [.. (await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => (e.Element.ToString(), (long)e.Score)).OrderBy(e => e.Item1, StringComparer.Ordinal)];
    }

    private static List<(string, long)> Sorted(Dictionary<string, long> set) => [.. set.Select(e => (e.Key, e.Value)).OrderBy(e => e.Key, StringComparer.Ordinal)];

    /// <summary>Where a call id starts: nowhere, due, due first, in flight, or accepted and supervised; a vulnerable customer's or not; with or without a deadline.</summary>
    private sealed record Placed(int Where, bool Deadline, int At, bool Priority = false)
    {
        public static readonly Gen<Placed> Gen = CsCheck.Gen.Select(CsCheck.Gen.Int[0, 4], CsCheck.Gen.Bool, CsCheck.Gen.Int[0, 600], CsCheck.Gen.Int[0, 3])
            .Select((where, deadline, at, priority) => new Placed(where, deadline, at, where == 2 || priority == 0));
    }

    /// <summary>The rules, command by command.</summary>
    private sealed class Queue
    {
        public Dictionary<string, long> Due { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> PriorityDue { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> InFlight { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> Supervised { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> Deadlines { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Priority { get; } = new(StringComparer.Ordinal);

        public void Enqueue(QueuedCommand command)
        {
            var queue = Due;
            if (command.Priority)
            {
                queue = PriorityDue;
                Priority.Add(command.CallId);
            }

            if (command.Move)
            {
                InFlight.Remove(command.CallId);
                Supervised.Remove(command.CallId);
                queue[command.CallId] = command.DueAt.ToUnixTimeMilliseconds();
            }
            else if (!InFlight.ContainsKey(command.CallId))
            {
                queue.TryAdd(command.CallId, command.DueAt.ToUnixTimeMilliseconds());
            }

            Deadlines.TryAdd(command.CallId, command.Deadline.ToUnixTimeMilliseconds());
        }

        public void Requeue(string callId, long due)
        {
            if (InFlight.Remove(callId))
            {
                (Priority.Contains(callId) ? PriorityDue : Due)[callId] = due;
            }
        }

        public void Park(string callId, long deadline)
        {
            Due.Remove(callId);
            PriorityDue.Remove(callId);
            InFlight.Remove(callId);
            Deadlines.TryAdd(callId, deadline);
        }
    }
}
