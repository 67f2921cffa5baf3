namespace CallRecovery.Policy;

public static class PhoneNumbers
{
    /// <summary>E.164: '+', a non-zero country-code digit, at most 15 digits in all.</summary>
    public static bool IsE164(string number)
    {
        if (number.Length < 3 || number.Length > 16 || number[0] != '+' || number[1] == '0')
        {
            return false;
        }

        foreach (var c in number.AsSpan(1))
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A dialled short code such as an emergency or service number: 2 to 6 digits.</summary>
    public static bool IsShortCode(string number) =>
        number.Length is >= 2 and <= 6 && number.All(char.IsAsciiDigit);
}
