using CallRecovery.Probes;
using CallRecovery.Delivery;
using CallRecovery.Observability;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using CallRecovery.Redis;
using CallRecovery.SwitchApi;
using CallRecovery.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace CallRecovery.Tests.SwitchApi;

/// <summary>
/// The switching port's classes without a server or a Redis: the door over recoveries kept in memory, effects
/// recorded, connections in memory. The Redis the pace and the cancels would use is unreachable (nothing listens on
/// port 1), so what needs it fails at once, as when Redis is away.
/// </summary>
public sealed class SwitchApiHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Now = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);

    private readonly ServiceProvider _metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ConnectionMultiplexer _unreachable = ConnectionMultiplexer.Connect(new ConfigurationOptions
    {
        EndPoints = { "127.0.0.1:1" },
        AbortOnConnectFail = false,
        ConnectTimeout = 100,
        AsyncTimeout = 100,
        SyncTimeout = 100,
        BacklogPolicy = BacklogPolicy.FailFast,
    });

    private readonly Lifetime _lifetime = new();

    public SwitchApiHarness(SwitchingOptions? options = null)
    {
        Options = options ?? new SwitchingOptions { AllowInsecure = true };
        Telemetry = new CallRecoveryTelemetry(_metrics.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        Moves = new RecoveryMoves(Records, Effects, Microsoft.Extensions.Options.Options.Create(new RecoveryPolicyOptions()), Time);
        var timing = new CallbackTiming(Microsoft.Extensions.Options.Options.Create(new ClassificationOptions()), Microsoft.Extensions.Options.Options.Create(new RetryOptions()), Microsoft.Extensions.Options.Options.Create(new QuietHoursOptions()));
        var redisOptions = Microsoft.Extensions.Options.Options.Create(new RedisOptions { ConnectionString = "127.0.0.1:1", Durability = RedisDurability.None });
        Problems = new ServiceProblems(Telemetry, Time, NullLogger<ServiceProblems>.Instance);
        var durability = new DurabilityBarrier(_unreachable, _unreachable, redisOptions, Problems, Time, NullLogger<DurabilityBarrier>.Instance);
        Reports = new SwitchReports(Moves, timing, durability, Problems, Telemetry, Time, NullLogger<SwitchReports>.Instance);
        Connections = new SwitchConnections(Telemetry, new DispatchSignal(Time));
        var switching = Microsoft.Extensions.Options.Options.Create(Options);
        Service = new SwitchingService(Connections, Reports, new SwitchCancels(_unreachable, redisOptions, switching, Connections, NullLogger<SwitchCancels>.Instance),
            new SwitchQueues(_unreachable, redisOptions), Moves, switching, _lifetime, Time, NullLogger<SwitchingService>.Instance);
    }

    public SwitchingOptions Options { get; }

    public FakeTimeProvider Time { get; } = new(Now);

    public InMemoryRecoveryRecords Records { get; } = new();

    public RecordingEffects Effects { get; } = new();

    public CallRecoveryTelemetry Telemetry { get; }

    public RecoveryMoves Moves { get; }

    public ServiceProblems Problems { get; }

    public SwitchReports Reports { get; }

    public SwitchConnections Connections { get; }

    public SwitchingService Service { get; }

    /// <summary>A recovery of switch-a in the given state, one delivery out (accepted, when acknowledged).</summary>
    public string Recovery(RecoveryState state, string callId = "call-1", string switchId = "switch-a", int attempts = 1)
    {
        Records.Put(new RecoveryRecord
        {
            RecoveryId = RecoveryIds.For(callId),
            CallId = callId,
            State = state,
            CallBack = "+447700900001",
            OtherParty = "+447700900002",
            DropTime = Now.AddMinutes(-1),
            AcceptedAt = Now.AddMinutes(-1),
            EventId = "e1",
            SwitchId = switchId,
            DueAt = Now.AddSeconds(-40),
            Deadline = Now.AddMinutes(4),
        }, (RecoveryFields.Attempts, attempts.ToString(System.Globalization.CultureInfo.InvariantCulture)), (RecoveryFields.AcceptedAttempt, state == RecoveryState.Acknowledged ? "1" : "0"));
        return RecoveryIds.For(callId);
    }

    public async ValueTask DisposeAsync()
    {
        await _unreachable.DisposeAsync();
        await _metrics.DisposeAsync();
        Telemetry.Dispose();
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
