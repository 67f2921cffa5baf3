// Deliberate upward references (the Policy folder using Delivery), so that ArchitectureTests can show it catches
// them however the source spells them. Never used at run time.
global using PlantedSignal = CallRecovery.Delivery.DispatchSignal;

namespace CallRecovery.Policy.Planted;

/// <summary>"Delivery.DispatchSignal" resolves through the enclosing CallRecovery namespace: no using directive names it.</summary>
internal static class PartiallyQualified
{
    public static Type Use() => typeof(Delivery.DispatchSignal);
}

/// <summary>Through the global using alias above: the file names no Delivery namespace at all.</summary>
internal static class ThroughGlobalUsing
{
    public static object? Use(PlantedSignal? signal) => signal;
}
