using Microsoft.Extensions.Compliance.Classification;
using Microsoft.Extensions.Compliance.Redaction;

namespace CallRecovery.Observability;

/// <summary>
/// The service's data classes. A subscriber number is personal data: a <c>[LoggerMessage]</c> parameter marked
/// <see cref="SubscriberNumberAttribute"/> is written through <see cref="SubscriberNumberRedactor"/>, never as given.
/// </summary>
public static class PersonalData
{
    public const string Taxonomy = "CallRecovery";

    public static DataClassification SubscriberNumber { get; } = new(Taxonomy, nameof(SubscriberNumber));
}

/// <summary>The parameter carries a subscriber number (E.164).</summary>
[AttributeUsage(AttributeTargets.Parameter | AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SubscriberNumberAttribute : DataClassificationAttribute
{
    public SubscriberNumberAttribute()
        : base(PersonalData.SubscriberNumber)
    {
    }
}

/// <summary>Writes a subscriber number in its masked form (<see cref="PhoneNumberMask"/>): country-code lead and last two digits.</summary>
public sealed class SubscriberNumberRedactor : Redactor
{
    public override int GetRedactedLength(ReadOnlySpan<char> input) => PhoneNumberMask.Mask(input.ToString()).Length;

    public override int Redact(ReadOnlySpan<char> source, Span<char> destination)
    {
        var masked = PhoneNumberMask.Mask(source.ToString());
        masked.AsSpan().CopyTo(destination);
        return masked.Length;
    }
}
