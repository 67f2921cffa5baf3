using System.Diagnostics;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>Bounded polling for a condition: no fixed sleeps, no unbounded waits.</summary>
public static class Eventually
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Limit;
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (IsPassing(e))
            {
                // The test's own look at a Redis that is restarting or a cluster that is still forming: not yet.
                last = e;
            }

            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"Waited {limit.TotalSeconds:0} s for: {what}", last);
            }

            await Task.Delay(100);
        }
    }

    private static bool IsPassing(Exception e) =>
        e is StackExchange.Redis.RedisConnectionException or StackExchange.Redis.RedisTimeoutException
        || (e is StackExchange.Redis.RedisServerException server && (server.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal)
            || server.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal) || server.Message.StartsWith("LOADING", StringComparison.Ordinal)));

    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Bounds an await, as grpc-dotnet's DefaultTimeout() does.</summary>
    public static Task<T> DefaultTimeout<T>(this Task<T> task) => task.WaitAsync(Limit);

    public static Task DefaultTimeout(this Task task) => task.WaitAsync(Limit);
}
