using CallRecovery.Ingest;
using CallRecovery.Kafka;
using CallRecovery.Probes;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace CallRecovery.Tests.Probes;

public class GroupJoinTests
{
    private static readonly Microsoft.Extensions.Options.IOptions<KafkaOptions> Options =
        Microsoft.Extensions.Options.Options.Create(new KafkaOptions { GroupId = "callrecovery", GroupJoinTimeout = TimeSpan.FromSeconds(60) });

    [Fact]
    public async Task A_consumer_rebuilt_again_and_again_without_joining_does_not_restart_the_join_timer()
    {
        var time = new FakeTimeProvider();
        var health = new DependencyHealth();
        var check = new KafkaHealthCheck(health, Options, time);

        health.ConsumerStarted(time.GetTimestamp());
        for (var rebuild = 0; rebuild < 4; rebuild++)
        {
            time.Advance(TimeSpan.FromSeconds(20));
            health.ConsumerStarted(time.GetTimestamp());
        }

        // 80 s since the first consumer, 0 s since the last: it has not joined for longer than the timeout.
        var result = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("has not joined group callrecovery", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_a_join_a_new_consumer_gets_its_own_time_to_join()
    {
        var time = new FakeTimeProvider();
        var health = new DependencyHealth();
        var check = new KafkaHealthCheck(health, Options, time);

        health.ConsumerStarted(time.GetTimestamp());
        time.Advance(TimeSpan.FromSeconds(5));
        health.GroupState(joined: true);
        time.Advance(TimeSpan.FromMinutes(10));
        health.ConsumerStarted(time.GetTimestamp());
        time.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
    }
}
