namespace CallRecovery.Amends;

public static class AmendsServiceCollectionExtensions
{
    /// <summary>Compensation of failed recoveries: written to the switches' outboxes, published by the outbox drain.</summary>
    public static IServiceCollection AddCompensation(this IServiceCollection services)
    {
        services.AddOptions<CompensationOptions>().BindConfiguration(CompensationOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Credits.Values.Append(o.DefaultCredit).All(c => c.FreeMinutes == 0 || c.MinorUnits == 0), "Compensation credits: free minutes or an amount, not both.")
            .Validate(o => o.Credits.Values.Append(o.DefaultCredit).All(c => c.MinorUnits == 0 || c.Currency.Length == 3), "Compensation credits: an amount needs a three-letter ISO 4217 currency.")
            .Validate(o => o.Credits.Keys.Concat(o.Templates.Keys).All(Compensations.IsOwedName), "Compensation:Credits and :Templates keys must be outcomes that are compensated (NO_ANSWER, BUSY, OTHER_PARTY_UNREACHABLE, FAILED, EXPIRED, OUTAGE_NOT_RECOVERED, CUSTOMER_UNREACHABLE, QUIET_HOURS, NO_REPORT).")
            .ValidateOnStart();
        services.AddSingleton<Compensations>();
        return services;
    }
}
