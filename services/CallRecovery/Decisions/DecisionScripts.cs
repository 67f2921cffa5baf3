using CallRecovery.Redis;



namespace CallRecovery.Decisions;

/// <summary>The decision stage's Redis scripts (Decisions/Scripts).</summary>
internal static class DecisionScripts
{
    public static readonly RedisScript ClaimCall = LuaResources.Load("claim_call.lua");
    public static readonly RedisScript AdmitSubscriber = LuaResources.Load("admit_subscriber.lua");
    public static readonly RedisScript SettleCall = LuaResources.Load("settle_call.lua");
    public static readonly RedisScript ReleaseSubscriber = LuaResources.Load("release_subscriber.lua");
    public static readonly RedisScript ProtectSubscriber = LuaResources.Load("protect_subscriber.lua");
    public static readonly RedisScript IndexCall = LuaResources.Load("index_call.lua");
}
