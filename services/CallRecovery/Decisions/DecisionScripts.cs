using CallRecovery.Redis;



namespace CallRecovery.Decisions;

/// <summary>The decision stage's Redis scripts (Decisions/Scripts).</summary>
internal static class DecisionScripts
{
    public static readonly string ClaimCall = LuaResources.Load("claim_call.lua");
    public static readonly string AdmitSubscriber = LuaResources.Load("admit_subscriber.lua");
    public static readonly string SettleCall = LuaResources.Load("settle_call.lua");
    public static readonly string ReleaseSubscriber = LuaResources.Load("release_subscriber.lua");
    public static readonly string ProtectSubscriber = LuaResources.Load("protect_subscriber.lua");
    public static readonly string IndexCall = LuaResources.Load("index_call.lua");
}
