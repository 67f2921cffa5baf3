namespace CallRecovery.Lookup;

public static class LookupServiceCollectionExtensions
{
    /// <summary>Telling a call's story: its decisions and recovery as recorded, as a timeline.</summary>
    public static IServiceCollection AddLookup(this IServiceCollection services)
    {
        services.AddSingleton<CallStories>();
        return services;
    }
}
