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
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"Waited {limit.TotalSeconds:0} s for: {what}");
            }

            await Task.Delay(100);
        }
    }

    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Bounds an await, as grpc-dotnet's DefaultTimeout() does.</summary>
    public static Task<T> DefaultTimeout<T>(this Task<T> task) => task.WaitAsync(Limit);

    public static Task DefaultTimeout(this Task task) => task.WaitAsync(Limit);
}
