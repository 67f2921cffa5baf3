using System.Text.RegularExpressions;

namespace CallRecovery.SwitchApi;

/// <summary>
/// Text a switch sends in its own words (a failure cause, a rejection detail, an instance or reconnect-leg name) is
/// cleaned where it enters, before anything logs, traces, stores, publishes or answers it: an IMS core reporting
/// <c>SIP 480 from sip:+447700900456@ims</c> would otherwise put the number in all of them. What looks like a phone
/// number is masked: the user part of a sip:, sips: or tel: URI, and any run of seven or more digits, with or
/// without a leading '+' and the separators people write numbers with (spaces, dots, dashes, brackets). Cause codes
/// (<c>q850:41</c>, <c>SIP 480</c>) are shorter and stay readable.
/// </summary>
public static partial class SwitchText
{
    /// <summary>What a masked number reads as.</summary>
    public const string Mask = "[number]";

    /// <summary>The text with every phone number and SIP/tel user part masked; empty stays empty.</summary>
    public static string Clean(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var cleaned = UriUser().Replace(text, m => m.Groups["scheme"].Value + Mask);
        return DigitRun().Replace(cleaned, m => CountDigits(m.ValueSpan) >= MinimumDigits ? Mask : m.Value);
    }

    /// <summary>Seven digits: the shortest subscriber numbers people dial (short codes of three to six digits name no one).</summary>
    private const int MinimumDigits = 7;

    private static int CountDigits(ReadOnlySpan<char> text)
    {
        var digits = 0;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
        }

        return digits;
    }

    /// <summary>sip:user@host, sips:user, tel:+44...: the scheme is kept, the user part (up to '@', ';', '>', '?', ',' or a space) masked.</summary>
    [GeneratedRegex(@"(?<scheme>\b(?:sips?|tel):)[^@;>?,\s]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex UriUser();

    /// <summary>A run of digits with the separators numbers are written with, optionally after '+' or '00'.</summary>
    [GeneratedRegex(@"\+?\(?\d(?:[\s.\-()/]{0,2}\d)+", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex DigitRun();
}
