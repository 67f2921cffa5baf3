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
    public static RedisScript Load(string name, string prelude = "") => new(prelude + Text(name));

    private static string Text(string name)
    {
        using var stream = typeof(LuaResources).Assembly.GetManifestResourceStream("CallRecovery.Scripts." + name)
            ?? throw new InvalidOperationException($"Lua script {name} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>
/// A Lua script and its SHA-1, computed once. <see cref="RedisScriptExtensions.EvaluateAsync"/> sends EVALSHA with
/// that hash and falls back to EVAL (which loads the script) on NOSCRIPT, after a Redis restart or failover. Passing
/// the script text to StackExchange.Redis instead makes it hash the whole text on every call to find its SHA, which
/// measured 8% of the service's CPU for the transition script alone.
/// </summary>
public sealed class RedisScript(string text)
{
    public string Text { get; } = text;

#pragma warning disable CA5350 // Redis names a script by its SHA-1; this is that name, not a security use.
    public byte[] Hash { get; } = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
}

public static class RedisScriptExtensions
{
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
}
