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
    public static readonly string DispatchRecovery = Load("dispatch_recovery.lua");
    public static readonly string AcknowledgeRecovery = Load("acknowledge_recovery.lua");
    public static readonly string ReportProgress = Load("report_progress.lua");
    public static readonly string RecordOutcome = Load("record_outcome.lua");
    public static readonly string EndRecovery = Load("end_recovery.lua");
    public static readonly string RecordConnection = Load("record_connection.lua");

    private static string Load(string name)
    {
        using var stream = typeof(LuaScripts).Assembly.GetManifestResourceStream("CallRecovery.Store.Scripts." + name)
            ?? throw new InvalidOperationException($"Lua script {name} is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
