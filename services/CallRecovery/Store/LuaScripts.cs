namespace CallRecovery.Store;

/// <summary>
/// The Lua scripts, kept as .lua resources. StackExchange.Redis sends each as EVALSHA once the server
/// has it and falls back to EVAL on NOSCRIPT (after a Redis restart or failover), so nothing here caches SHAs.
/// </summary>
internal static class LuaScripts
{
    public static readonly string ClaimCall = Load("claim_call.lua");
    public static readonly string AdmitSubscriber = Load("admit_subscriber.lua");
    public static readonly string SettleCall = Load("settle_call.lua");
    public static readonly string ReleaseSubscriber = Load("release_subscriber.lua");
    public static readonly string ProtectSubscriber = Load("protect_subscriber.lua");

    private static string Load(string name)
    {
        using var stream = typeof(LuaScripts).Assembly.GetManifestResourceStream("CallRecovery.Store.Scripts." + name)
            ?? throw new InvalidOperationException($"Lua script {name} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
