using System.Net;

namespace CallRecovery.Security;

/// <summary>Whether a caller or a listening address is this host only: what the unauthenticated local modes allow.</summary>
public static class Loopback
{
    /// <summary>A caller's address is the loopback interface (an IPv4 address mapped to IPv6 included).</summary>
    public static bool Is(IPAddress? address) => address is not null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    /// <summary>A listening host ("localhost", 127.x, ::1) reaches this host only; "0.0.0.0", "*" or a name does not.</summary>
    public static bool IsHost(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && Is(address));
}
