using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;
using CallRecovery.Probes;

namespace CallRecovery.Redis;

/// <summary>
/// Loads a stage's Lua scripts, kept as .lua resources beside the stage that owns them.
/// </summary>
public static class LuaResources
{
    /// <summary>The script <paramref name="name"/>, after <paramref name="prelude"/> (Lua generated from C#, such as the lifecycle table).</summary>
    public static RedisScript Load(string name, string prelude = "") => new(Text(name), prelude);

    /// <summary>
    /// A prelude (<c>each.lua</c>) for scripts that write many members at once: <c>each(values, command, key, ...)</c>
    /// sends one command per lot of 1,000 values.
    /// </summary>
    public static string Each { get; } = Text("each.lua");

    private static string Text(string name)
    {
        using var stream = typeof(LuaResources).Assembly.GetManifestResourceStream("CallRecovery.Scripts." + name)
            ?? throw new InvalidOperationException($"Lua script {name} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>One run of a script: its keys (all in one hash slot) and arguments.</summary>
public readonly record struct ScriptCall(RedisKey[] Keys, RedisValue[] Values);

/// <summary>
/// A Lua script and its SHA-1, computed once. <see cref="RedisScriptExtensions.EvaluateAsync"/> sends EVALSHA with
/// that hash and falls back to EVAL (which loads the script) on NOSCRIPT, after a Redis restart or failover. Passing
/// the script text to StackExchange.Redis instead makes it hash the whole text on every call to find its SHA, which
/// measured 8% of the service's CPU for the transition script alone.
/// </summary>
public sealed class RedisScript
{
    private readonly Lazy<RedisScript>? _many;

    /// <param name="body">The script run once per call.</param>
    /// <param name="prelude">Definitions in front of it (run once per call of <see cref="Many"/> too).</param>
    public RedisScript(string body, string prelude = "")
    {
        Text = prelude + body;
        Hash = Sha1(Text);
        _many = new Lazy<RedisScript>(() => new RedisScript(prelude + ManyWrapper(body)));
    }

    private RedisScript(string text)
    {
        Text = text;
        Hash = Sha1(text);
    }

    public string Text { get; }

    public byte[] Hash { get; }

    /// <summary>
    /// The same script run for several calls in one: KEYS is the calls' keys one after another; ARGV[1] is the calls'
    /// arguments packed as one MessagePack array (<see cref="ManyRunArguments"/>): the calls' key counts, then each
    /// call's arguments as an array of strings, each becoming that call's ARGV as it is. The reply is two arrays: the
    /// calls' replies in order (false for a call that failed), and the failed calls as pairs of position (1-based) and
    /// error text. Each call fails on its own (pcall), as it would sent alone; errors are not nested in the reply
    /// because a client cannot read an error inside an array. One EVALSHA instead of many saves most of the client's
    /// and Redis's work per call. Null for a script that is itself a many-run.
    /// </summary>
    public RedisScript? Many => _many?.Value;

    // The body becomes a function of its own KEYS and ARGV, so its returns and locals work as in a single run.
    private static string ManyWrapper(string body) =>
        "local function one(KEYS, ARGV)\n" + body + "\nend\n" +
        """
        -- One argument for the whole run, unpacked in C: sent as thousands of arguments, each one cost Redis and the
        -- client a bulk string of its own and the wrapper a copy into the call's table.
        local calls = cmsgpack.unpack(ARGV[1])
        local counts = calls[1]
        local out, failed, k = {}, {}, 0
        for n = 1, #counts do
          local kc = counts[n]
          -- A table constructor over unpack copies in C; unpack takes a few thousand values at most, so the keys of a
          -- call with more (merged calls) are copied one by one.
          local keys
          if kc <= 4000 then
            keys = kc > 0 and {unpack(KEYS, k + 1, k + kc)} or {}
          else
            keys = {}
            for i = 1, kc do keys[i] = KEYS[k + i] end
          end
          local ok, reply = pcall(one, keys, calls[n + 1])
          if ok and not (type(reply) == 'table' and reply.err) then
            out[n] = reply or false
          else
            out[n] = false
            failed[#failed + 1] = n
            failed[#failed + 1] = type(reply) == 'table' and reply.err or tostring(reply)
          end
          k = k + kc
        end
        return {out, failed}
        """;

#pragma warning disable CA5350 // Redis names a script by its SHA-1; this is that name, not a security use.
    private static byte[] Sha1(string text) => SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
}

public static class RedisScriptExtensions
{
    /// <summary>Most calls sent in one many-run: a few milliseconds of Redis's time at most, so nothing else waits long behind it.</summary>
    public const int MostPerRun = 256;

    public static async Task<RedisResult> EvaluateAsync(this IDatabaseAsync db, RedisScript script, RedisKey[] keys, RedisValue[] values)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(script);
        try
        {
            return await db.ScriptEvaluateAsync(script.Hash, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await db.ScriptEvaluateAsync(script.Text, keys, values).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="script"/> for every call, replies in the calls' order; throws the first call's error if
    /// any call failed (the others still ran, as in a pipeline). See <see cref="EvaluateEachOnItsOwnAsync"/>.
    /// </summary>
    public static async Task<RedisResult[]> EvaluateEachAsync(this IDatabaseAsync db, RedisScript script, IReadOnlyList<ScriptCall> calls)
    {
        var replies = await db.EvaluateEachOnItsOwnAsync(script, calls).ConfigureAwait(false);
        foreach (var reply in replies)
        {
            reply.ThrowIfError();
        }

        return replies;
    }

    /// <summary>A call's reply, or its error as a <see cref="RedisServerException"/>.</summary>
    public static RedisResult ThrowIfError(this RedisResult reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return reply.Resp2Type == ResultType.Error ? throw ErrorOf(reply) : reply;
    }

    /// <summary>A call's error reply as the exception the call would have thrown alone (its text classifies it, as in <see cref="TransientErrors"/>).</summary>
    public static RedisServerException ErrorOf(RedisResult reply) =>
        new(RedisErrorKind.UnknownError, CommandFlags.None, reply?.ToString() ?? "ERR script failed");

    /// <summary>
    /// Runs <paramref name="script"/> for every call, replies in the calls' order; a call that failed has its error
    /// as its reply (<see cref="ResultType.Error"/>) and the others are not affected. Calls whose keys share a hash
    /// slot go together in one run of <see cref="RedisScript.Many"/> (on a standalone Redis, that is all of them); on
    /// a cluster, calls on different slots run apart, as a script may only touch one slot. Each call stays atomic on
    /// its own, as when sent alone; a many-run only saves round trips and per-command work. A failure of the
    /// connection itself (not of a call) is thrown.
    /// </summary>
    public static async Task<RedisResult[]> EvaluateEachOnItsOwnAsync(this IDatabaseAsync db, RedisScript script, IReadOnlyList<ScriptCall> calls)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(calls);
        var replies = new RedisResult[calls.Count];
        if (calls.Count == 0)
        {
            return replies;
        }

        var runs = new List<Task>();
        foreach (var slot in Enumerable.Range(0, calls.Count).GroupBy(i => calls[i].Keys.Length == 0 ? -1 : db.Multiplexer.HashSlot(calls[i].Keys[0])))
        {
            foreach (var chunk in slot.Chunk(MostPerRun))
            {
                runs.Add(chunk.Length == 1 || script.Many is null ? Apart(chunk) : Together(chunk));
            }
        }

        await Task.WhenAll(runs).ConfigureAwait(false);
        return replies;

        async Task Apart(int[] chunk)
        {
            var each = chunk.Select(i => db.EvaluateAsync(script, calls[i].Keys, calls[i].Values)).ToArray();
            for (var n = 0; n < chunk.Length; n++)
            {
                try
                {
                    replies[chunk[n]] = await each[n].ConfigureAwait(false);
                }
                catch (RedisServerException e)
                {
                    replies[chunk[n]] = RedisResult.Create(e.Message, ResultType.Error);
                }
            }
        }

        async Task Together(int[] chunk)
        {
            // The run's arguments in one string; its keys in one array of its final size (the hot path of every batch).
            using var arguments = ManyRunArguments.Pack(calls, chunk);
            if (arguments is null)
            {
                await Apart(chunk).ConfigureAwait(false);
                return;
            }

            var keyCount = 0;
            foreach (var i in chunk)
            {
                keyCount += calls[i].Keys.Length;
            }

            var keys = new RedisKey[keyCount];
            var k = 0;
            foreach (var i in chunk)
            {
                calls[i].Keys.CopyTo(keys, k);
                k += calls[i].Keys.Length;
            }

            RedisResult[] together, failed;
            try
            {
                var reply = (RedisResult[])(await db.EvaluateAsync(script.Many!, keys, [arguments.Value]).ConfigureAwait(false))!;
                (together, failed) = ((RedisResult[])reply[0]!, (RedisResult[])reply[1]!);
                arguments.Replied();
            }
            catch (RedisServerException e) when (e.Message.StartsWith("CROSSSLOT", StringComparison.Ordinal))
            {
                // The slots were read before the client learnt it talks to a cluster: send them apart.
                arguments.Replied();
                await Apart(chunk).ConfigureAwait(false);
                return;
            }

            for (var n = 0; n < chunk.Length; n++)
            {
                replies[chunk[n]] = together[n];
            }

            for (var f = 0; f + 1 < failed.Length; f += 2)
            {
                replies[chunk[(int)failed[f] - 1]] = RedisResult.Create((RedisValue)(string?)failed[f + 1], ResultType.Error);
            }
        }
    }
}
