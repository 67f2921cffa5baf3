using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace CallRecovery.Redis;

/// <summary>
/// Loads a stage's Lua scripts, kept as .lua resources beside the stage that owns them.
/// </summary>
public static class LuaResources
{
    /// <summary>The script <paramref name="name"/>, after <paramref name="prelude"/> (Lua generated from C#, such as the lifecycle table).</summary>
    public static RedisScript Load(string name, string prelude = "") => new(Text(name), prelude);

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
    /// The same script run for several calls in one: ARGV is, per call, its key count, its argument count and its
    /// arguments; KEYS is the calls' keys one after another; the reply is the calls' replies in order. One EVALSHA
    /// instead of many saves most of the client's and Redis's work per call. Null for a script that is itself a many-run.
    /// </summary>
    public RedisScript? Many => _many?.Value;

    // The body becomes a function of its own KEYS and ARGV, so its returns and locals work as in a single run.
    private static string ManyWrapper(string body) =>
        "local function one(KEYS, ARGV)\n" + body + "\nend\n" +
        """
        local out, k, a, n = {}, 0, 1, 0
        while a <= #ARGV do
          local kc, ac = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
          local keys, args = {}, {}
          for i = 1, kc do keys[i] = KEYS[k + i] end
          for i = 1, ac do args[i] = ARGV[a + 1 + i] end
          n = n + 1
          -- Each call fails on its own, as it would sent alone: its error is its reply, the others go on.
          local ok, reply = pcall(one, keys, args)
          if ok then
            out[n] = reply or false
          elseif type(reply) == 'table' and reply.err then
            out[n] = reply
          else
            out[n] = {err = tostring(reply)}
          end
          k = k + kc
          a = a + 2 + ac
        end
        return out
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
    /// Runs <paramref name="script"/> for every call, replies in the calls' order. Calls whose keys share a hash slot
    /// go together in one run of <see cref="RedisScript.Many"/> (on a standalone Redis, that is all of them); on a
    /// cluster, calls on different slots run apart, as a script may only touch one slot. Each call stays atomic on
    /// its own, as when sent alone; a many-run only saves round trips and per-command work.
    /// </summary>
    public static async Task<RedisResult[]> EvaluateEachAsync(this IDatabaseAsync db, RedisScript script, IReadOnlyList<ScriptCall> calls)
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
            await Task.WhenAll(each).ConfigureAwait(false);
            for (var n = 0; n < chunk.Length; n++)
            {
                replies[chunk[n]] = each[n].Result;
            }
        }

        async Task Together(int[] chunk)
        {
            var keys = new List<RedisKey>();
            var values = new List<RedisValue>();
            foreach (var i in chunk)
            {
                keys.AddRange(calls[i].Keys);
                values.Add(calls[i].Keys.Length);
                values.Add(calls[i].Values.Length);
                values.AddRange(calls[i].Values);
            }

            RedisResult[] together;
            try
            {
                together = (RedisResult[])(await db.EvaluateAsync(script.Many!, [.. keys], [.. values]).ConfigureAwait(false))!;
            }
            catch (RedisServerException e) when (e.Message.StartsWith("CROSSSLOT", StringComparison.Ordinal))
            {
                // The slots were read before the client learnt it talks to a cluster: send them apart.
                await Apart(chunk).ConfigureAwait(false);
                return;
            }

            for (var n = 0; n < chunk.Length; n++)
            {
                replies[chunk[n]] = together[n];
            }
        }
    }
}
