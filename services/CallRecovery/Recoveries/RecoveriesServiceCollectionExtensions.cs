namespace CallRecovery.Recoveries;

public static class RecoveriesServiceCollectionExtensions
{
    /// <summary>The recovery lifecycle's store in Redis.</summary>
    public static IServiceCollection AddRecoveries(this IServiceCollection services)
    {
        services.AddSingleton<RecoveryStore>();
        return services;
    }
}
