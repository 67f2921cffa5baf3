using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using CallRecovery.Probes;

namespace CallRecovery.Tests.Probes;

public class LivenessTests
{
    private static readonly IOptions<LivenessOptions> Options = Microsoft.Extensions.Options.Options.Create(new LivenessOptions { StallTimeout = TimeSpan.FromMinutes(2), MaxRestartDelay = TimeSpan.FromMilliseconds(200) });

    [Fact]
    public async Task A_loop_that_stops_beating_turns_liveness_red_and_names_the_loop()
    {
        var time = new FakeTimeProvider();
        var heartbeats = new LoopHeartbeats(time);
        var check = new LivenessHealthCheck(heartbeats, Options);
        heartbeats.Beat("consume");
        heartbeats.Beat("dispatch");
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        time.Advance(TimeSpan.FromMinutes(1));
        heartbeats.Beat("dispatch");
        time.Advance(TimeSpan.FromMinutes(1.5));
        var result = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("consume", result.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("dispatch", result.Description, StringComparison.Ordinal);

        heartbeats.Forget("consume");
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
    }

    [Fact]
    public async Task A_loop_that_throws_is_started_again_and_only_the_host_stopping_ends_it()
    {
        var heartbeats = new LoopHeartbeats(TimeProvider.System);
        var supervisor = new LoopSupervisor(heartbeats, Options, NullLogger<LoopSupervisor>.Instance);
        using var stop = new CancellationTokenSource();
        var runs = 0;
        var running = supervisor.RunAsync("test", async token =>
        {
            if (Interlocked.Increment(ref runs) <= 2)
            {
                throw new InvalidOperationException("a defect met by one event");
            }

            await Task.Delay(Timeout.Infinite, token);
        }, stop.Token);

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref runs) < 3 && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        Assert.Equal(3, Volatile.Read(ref runs));
        Assert.False(running.IsCompleted);
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(heartbeats.StalledLongerThan(TimeSpan.Zero));
    }

    [Fact]
    public async Task A_loop_that_fails_on_every_turn_is_not_kept_alive_by_its_restarts()
    {
        var time = new FakeTimeProvider();
        var heartbeats = new LoopHeartbeats(time);
        var check = new LivenessHealthCheck(heartbeats, Options);
        var supervisor = new LoopSupervisor(heartbeats, Options, NullLogger<LoopSupervisor>.Instance);
        using var stop = new CancellationTokenSource();
        var runs = 0;
        var running = supervisor.RunAsync("consume", _ =>
        {
            Interlocked.Increment(ref runs);
            throw new InvalidOperationException("fails before it makes any progress");
        }, stop.Token);

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref runs) < 3 && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        // Restarted again and again, but never beating: once the stall timeout passes, liveness says so.
        time.Advance(TimeSpan.FromMinutes(3));
        var restartsBefore = Volatile.Read(ref runs);
        while (Volatile.Read(ref runs) < restartsBefore + 2 && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        // It did go on restarting after the stall timeout: the restarts are what must not count as beats.
        Assert.True(Volatile.Read(ref runs) >= restartsBefore + 2, $"restarted {Volatile.Read(ref runs) - restartsBefore} times after the stall timeout");

        var result = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("consume", result.Description, StringComparison.Ordinal);
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
