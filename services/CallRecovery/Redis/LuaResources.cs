namespace CallRecovery.Redis;

/// <summary>
/// Loads a stage's Lua scripts, kept as .lua resources beside the stage that owns them. StackExchange.Redis sends
/// each as EVALSHA once the server has it and falls back to EVAL on NOSCRIPT (after a Redis restart or
/// failover), so nothing here caches SHAs.
/// </summary>
public static class LuaResources
{
    public static string Load(string name)
    {
        using var stream = typeof(LuaResources).Assembly.GetManifestResourceStream("CallRecovery.Scripts." + name)
            ?? throw new InvalidOperationException($"Lua script {name} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
