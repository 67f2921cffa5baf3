using System.Collections.Concurrent;
using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// Sends the calls of one script that many callers make at once (a switch stream's acknowledgements and reports,
/// the dispatch of a window's commands) as many-runs (<see cref="RedisScriptExtensions.EvaluateEachOnItsOwnAsync"/>)
/// instead of one EVALSHA each. Nothing waits for a batch to fill: a call goes at once while fewer than
/// <see cref="RunsInFlight"/> runs are out, and the calls that arrive meanwhile go together in the next run, so the
/// batches are as large as the load makes them. Each call keeps its own reply or error, as if sent alone.
/// With <c>mergeSameKeys</c>, for a script that does the same for each of its arguments (removing ids from a
/// switch's queue), calls on the same keys become one call with all their arguments, and share its reply.
/// </summary>
public sealed class ScriptBatcher(Func<IDatabaseAsync> database, RedisScript script, bool mergeSameKeys = false)
{
    /// <summary>Runs out at once: enough to keep Redis busy while a reply is on its way back.</summary>
    public const int RunsInFlight = 2;

    private readonly ConcurrentQueue<(ScriptCall Call, TaskCompletionSource<RedisResult> Reply)> _waiting = new();
    private int _inFlight;

    public Task<RedisResult> EvaluateAsync(RedisKey[] keys, RedisValue[] values)
    {
        var reply = new TaskCompletionSource<RedisResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting.Enqueue((new ScriptCall(keys, values), reply));
        SendWhileRoom();
        return reply.Task;
    }

    private void SendWhileRoom()
    {
        while (!_waiting.IsEmpty)
        {
            var inFlight = Volatile.Read(ref _inFlight);
            if (inFlight >= RunsInFlight)
            {
                // A run under way sends what waits when it ends.
                return;
            }

            if (Interlocked.CompareExchange(ref _inFlight, inFlight + 1, inFlight) != inFlight)
            {
                continue;
            }

            var batch = new List<(ScriptCall Call, TaskCompletionSource<RedisResult> Reply)>();
            while (batch.Count < RedisScriptExtensions.MostPerRun && _waiting.TryDequeue(out var next))
            {
                batch.Add(next);
            }

            if (batch.Count == 0)
            {
                // Another sender took them; look again in case more came meanwhile.
                Interlocked.Decrement(ref _inFlight);
                continue;
            }

            _ = RunAsync(batch);
        }
    }

    private async Task RunAsync(List<(ScriptCall Call, TaskCompletionSource<RedisResult> Reply)> batch)
    {
        try
        {
            if (!mergeSameKeys)
            {
                // Each caller's own call, as it came.
                var own = new ScriptCall[batch.Count];
                for (var n = 0; n < batch.Count; n++)
                {
                    own[n] = batch[n].Call;
                }

                Answer(batch, await database().EvaluateEachOnItsOwnAsync(script, own).ConfigureAwait(false), n => n);
                return;
            }

            // Which call of the run answers each caller: the merged call of its keys (one list of arguments per key
            // set, so merging stays linear however many callers share the keys).
            var keys = new List<RedisKey[]>();
            var values = new List<List<RedisValue>>();
            var answeredBy = new int[batch.Count];
            var byKeys = new Dictionary<RedisKey[], int>(KeySets.Instance);
            for (var n = 0; n < batch.Count; n++)
            {
                var call = batch[n].Call;
                if (byKeys.TryGetValue(call.Keys, out var merged))
                {
                    values[merged].AddRange(call.Values);
                    answeredBy[n] = merged;
                    continue;
                }

                answeredBy[n] = keys.Count;
                byKeys[call.Keys] = keys.Count;
                keys.Add(call.Keys);
                values.Add([.. call.Values]);
            }

            var calls = keys.Select((k, i) => new ScriptCall(k, [.. values[i]])).ToArray();
            Answer(batch, await database().EvaluateEachOnItsOwnAsync(script, calls).ConfigureAwait(false), n => answeredBy[n]);
        }
        catch (Exception e)
        {
            // The connection failed (not one call): every call of the run gets the error, as each would have alone.
            foreach (var (_, reply) in batch)
            {
                reply.TrySetException(e);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            SendWhileRoom();
        }
    }

    /// <summary>Each caller gets the reply of the call that answers it, or its error.</summary>
    private static void Answer(List<(ScriptCall Call, TaskCompletionSource<RedisResult> Reply)> batch, RedisResult[] replies, Func<int, int> answeredBy)
    {
        for (var n = 0; n < batch.Count; n++)
        {
            var reply = replies[answeredBy(n)];
            _ = reply.Resp2Type == ResultType.Error
                ? batch[n].Reply.TrySetException(RedisScriptExtensions.ErrorOf(reply))
                : batch[n].Reply.TrySetResult(reply);
        }
    }

    /// <summary>Key sets equal when they name the same keys in the same order (no joined name built per call).</summary>
    private sealed class KeySets : IEqualityComparer<RedisKey[]>
    {
        public static readonly KeySets Instance = new();

        public bool Equals(RedisKey[]? x, RedisKey[]? y) => x is null || y is null ? ReferenceEquals(x, y) : x.AsSpan().SequenceEqual(y);

        public int GetHashCode(RedisKey[] obj)
        {
            var hash = new HashCode();
            foreach (var key in obj)
            {
                hash.Add(key);
            }

            return hash.ToHashCode();
        }
    }
}
