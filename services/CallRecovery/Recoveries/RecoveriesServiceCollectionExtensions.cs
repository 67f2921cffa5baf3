namespace CallRecovery.Recoveries;

public static class RecoveriesServiceCollectionExtensions
{
    /// <summary>The recovery lifecycle: the door every move goes through, the records it keeps, and where recoveries are filed. Its effects port is registered by the delivery stage.</summary>
    public static IServiceCollection AddRecoveries(this IServiceCollection services)
    {
        services.AddSingleton<IRecoveryRecords, RedisRecoveryRecords>();
        services.AddSingleton<RecentRecoveries>();
        services.AddSingleton<RecoveryMoves>();
        services.AddSingleton<RecoveryIndex>();
        return services;
    }
}
