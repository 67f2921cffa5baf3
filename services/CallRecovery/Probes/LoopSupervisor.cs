using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace CallRecovery.Probes;

/// <summary>
/// Runs a background loop so that nothing it throws takes the process down: an unexpected exception is logged
/// and the loop starts again after a growing pause. Only the host stopping ends it. Together with
/// <see cref="LoopHeartbeats"/> a loop is either making progress or reported dead, never silently gone: a restart
/// is not progress, so a loop that fails on every turn before it beats stops beating, and liveness says so.
/// </summary>
public sealed partial class LoopSupervisor(LoopHeartbeats heartbeats, IOptions<LivenessOptions> options, ILogger<LoopSupervisor> logger)
{
    public async Task RunAsync(string loop, Func<CancellationToken, Task> body, CancellationToken stoppingToken)
    {
        var restarts = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => !(e is OperationCanceledException && stoppingToken.IsCancellationRequested)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = options.Value.MaxRestartDelay,
                OnRetry = args =>
                {
                    LogRestarting(args.Outcome.Exception, loop, args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        heartbeats.Beat(loop);
        try
        {
            await restarts.ExecuteAsync(
                static async (state, token) =>
                {
                    await state.body(token).ConfigureAwait(false);
                    if (!token.IsCancellationRequested)
                    {
                        throw new InvalidOperationException($"The {state.loop} loop returned while the service runs.");
                    }
                },
                (body, loop),
                stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
        finally
        {
            heartbeats.Forget(loop);
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "The {Loop} loop failed; starting it again in {DelayMs} ms")]
    private partial void LogRestarting(Exception? exception, string loop, double delayMs);
}
