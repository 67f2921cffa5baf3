using CallRecovery.Redis;



namespace CallRecovery.Recoveries;

/// <summary>The recoveries' Redis scripts (Recoveries/Scripts): the one script that moves a recovery, and its switch queue.</summary>
internal static class RecoveryScripts
{
    /// <summary>Every move of a recovery: the lifecycle table, as Lua, in front of the script that enforces it.</summary>
    public static readonly RedisScript Transition = LuaResources.Load("transition.lua", prelude: RecoveryLifecycle.LuaPrelude());
    public static readonly RedisScript EnqueueRecovery = LuaResources.Load("enqueue_recovery.lua");
    public static readonly RedisScript ClaimDue = LuaResources.Load("claim_due.lua");
    public static readonly RedisScript Requeue = LuaResources.Load("requeue.lua");
    public static readonly RedisScript Reschedule = LuaResources.Load("reschedule.lua");
    public static readonly RedisScript MarkReachable = LuaResources.Load("mark_reachable.lua");
    public static readonly RedisScript SettleEntries = LuaResources.Load("settle_entries.lua");
    public static readonly RedisScript SweepSwitch = LuaResources.Load("sweep_switch.lua");
    public static readonly RedisScript RecordConnection = LuaResources.Load("record_connection.lua");
    public static readonly RedisScript PairRecovery = LuaResources.Load("pair_recovery.lua");
    public static readonly RedisScript ConnectionsSince = LuaResources.Load("connections_since.lua");
    public static readonly RedisScript PartyFacts = LuaResources.Load("party_facts.lua");
}
