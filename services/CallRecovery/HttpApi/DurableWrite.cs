using System.Globalization;
using CallRecovery.Probes;
using CallRecovery.Redis;

namespace CallRecovery.HttpApi;

/// <summary>
/// A change made through the API is confirmed only once it is durable (<see cref="DurabilityBarrier"/>). When Redis
/// cannot take or confirm it, nothing is confirmed: the caller gets 503 with Retry-After and sends it again (every such
/// change is idempotent).
/// </summary>
internal static class DurableWrite
{
    /// <summary>Runs <paramref name="write"/> and waits until it is durable; <c>Refused</c> is the 503 to answer instead when it could not be.</summary>
    public static async Task<(T Result, IResult? Refused)> ConfirmAsync<T>(HttpContext http, DurabilityBarrier durability, Func<Task<T>> write, string what, int retryAfterSeconds)
    {
        try
        {
            var result = await write().ConfigureAwait(false);
            await durability.WaitAsync().ConfigureAwait(false);
            return (result, null);
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            http.Response.Headers.RetryAfter = retryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return (default!, Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: $"The {what} is not recorded yet; send it again.", detail: TransientErrors.Describe(e)));
        }
    }
}
