using CallRecovery.Redis;



namespace CallRecovery.Recoveries;

/// <summary>The recoveries' Redis scripts (Recoveries/Scripts): the one script that moves a recovery, and its switch queue.</summary>
internal static class RecoveryScripts
{
    /// <summary>Every move of a recovery: the lifecycle table, as Lua, in front of the script that enforces it.</summary>
    public static readonly string Transition = RecoveryLifecycle.LuaPrelude() + LuaResources.Load("transition.lua");
    public static readonly string EnqueueRecovery = LuaResources.Load("enqueue_recovery.lua");
    public static readonly string ClaimDue = LuaResources.Load("claim_due.lua");
    public static readonly string Requeue = LuaResources.Load("requeue.lua");
    public static readonly string SettleEntries = LuaResources.Load("settle_entries.lua");
    public static readonly string SweepSwitch = LuaResources.Load("sweep_switch.lua");
    public static readonly string RecordConnection = LuaResources.Load("record_connection.lua");
}
