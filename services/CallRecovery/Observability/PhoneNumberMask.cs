namespace CallRecovery.Observability;

/// <summary>
/// Phone numbers are personal data: everything that leaves the process as text (logs, traces, console)
/// shows them masked. The country-code lead and the last two digits stay, which is enough to tell calls
/// apart when reading a trace and not enough to dial anyone.
/// </summary>
public static class PhoneNumberMask
{
    public static string Mask(string? number)
    {
        if (string.IsNullOrEmpty(number))
        {
            return string.Empty;
        }

        if (number.Length <= 6)
        {
            // Short codes (112, 999) are not personal; they stay readable.
            return number;
        }

        var keepStart = number.StartsWith('+') ? 3 : 2;
        return string.Concat(number.AsSpan(0, keepStart), new string('*', number.Length - keepStart - 2), number.AsSpan(number.Length - 2));
    }
}
