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
    public static readonly string EnqueueRecovery = Load("enqueue_recovery.lua");
    public static readonly string ClaimDue = Load("claim_due.lua");
    public static readonly string Requeue = Load("requeue.lua");
    public static readonly string SettleEntries = Load("settle_entries.lua");
    public static readonly string SweepSwitch = Load("sweep_switch.lua");
    public static readonly string RecordConnection = Load("record_connection.lua");

    /// <summary>Every move of a recovery: the lifecycle table, as Lua, in front of the script that enforces it.</summary>
    public static readonly string Transition = Recoveries.RecoveryLifecycle.LuaPrelude() + Load("transition.lua");

    private static string Load(string name)
    {
        using var stream = typeof(LuaScripts).Assembly.GetManifestResourceStream("CallRecovery.Scripts." + name)
            ?? throw new InvalidOperationException($"Lua script {name} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
