using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using Grpc.Net.Client;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// A grace period that learns, end to end (Kafka events, real Redis, the switch API over HTTP/2): in a cell where people
/// redial by themselves within seconds, the callbacks first go out before the redials and are cancelled at the switch;
/// once the cell has taught its redials, the grace waits for them and the redials cancel callbacks never sent.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed partial class LearnedGraceTests(Infrastructure infrastructure)
{
    private const string Cell = "234-15-9a9a-07";
    private const int Drops = 12;
    private static readonly TimeSpan RedialAfter = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task In_a_cell_where_people_redial_within_seconds_the_grace_settles_within_its_bounds_and_redial_cancels_at_the_switch_fall()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        settings["Switching:GracePeriod"] = "00:00:01";
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        settings["Switching:LearnedGrace:Enabled"] = "true";
        settings["Switching:LearnedGrace:Min"] = "00:00:01";
        settings["Switching:LearnedGrace:Max"] = "00:00:20";
        settings["Switching:LearnedGrace:MinDrops"] = "10";
        settings["Switching:LearnedGrace:Refresh"] = "00:00:00";
        await using var service = new ServiceHost(settings).Started();
        using var channel = GrpcChannel.ForAddress(service.SwitchingAddress);
        // A switch that takes commands and never answers: a callback sent stays out until a redial cancels it there.
        using var stream = await RawSwitch.HelloAsync(channel, "holds-everything");

        // Nothing learned yet: the default grace (1 s). The drops are 4 s old when reported, so their callbacks go at
        // once; the parties' own redials (4 s after each drop) come after, and cancel callbacks already at the switch.
        var firstDrop = DateTimeOffset.UtcNow.AddSeconds(-4);
        await PublishDropsAsync(scenario, "early", firstDrop);
        await Eventually.TrueAsync(async () => (await RecoveriesAsync(scenario, "early")).All(r => r?.FirstDispatchedAt is not null), "the first callbacks sent");
        Assert.All(await RecoveriesAsync(scenario, "early"), r => Assert.Equal("default", r!.GraceBasis.Split(':')[0]));
        await PublishRedialsAsync(scenario, "early", firstDrop + RedialAfter);
        await Eventually.TrueAsync(async () => (await RecoveriesAsync(scenario, "early")).All(r => r?.State == RecoveryState.Cancelled), "the redials cancel them");

        // Learned: 12 drops, 12 redials, all within 4 s: the grace is 5 s (4 s and a second for the reports).
        var secondDrop = DateTimeOffset.UtcNow;
        await PublishDropsAsync(scenario, "later", secondDrop);
        await Eventually.TrueAsync(async () => (await RecoveriesAsync(scenario, "later")).All(r => r is not null), "the later drops decided");
        var learned = await RecoveriesAsync(scenario, "later");
        Assert.All(learned, r => Assert.Equal(TimeSpan.FromSeconds(5), r!.Grace));
        Assert.All(learned, r => Assert.StartsWith($"cell: cell {Cell}: 12 of 12 drops redialled by themselves (100%), 90% of them within 4 s", r!.GraceBasis, StringComparison.Ordinal));

        // Their redials come when people make them, 4 s after the drop: before the learned grace ends, so nothing was sent.
        await Eventually.TrueAsync(() => DateTimeOffset.UtcNow >= secondDrop + RedialAfter, "the parties redial");
        await PublishRedialsAsync(scenario, "later", secondDrop + RedialAfter);
        await Eventually.TrueAsync(async () => (await RecoveriesAsync(scenario, "later")).All(r => r?.State == RecoveryState.Cancelled), "the redials cancel them");
        var sentThenCancelled = (await RecoveriesAsync(scenario, "later")).Count(r => r!.FirstDispatchedAt is not null);
        Assert.True(sentThenCancelled <= Drops / 4, $"{sentThenCancelled} of {Drops} callbacks went out before the parties' redial (all {Drops} did before the grace was learned)");

        // The lookup says why, and the metrics show the grace chosen and the redials by whether the callback had gone.
        using var http = service.CreateHttpClient();
        var lookup = await http.GetFromJsonAsync<JsonElement>(new Uri("/v1/calls/later-0", UriKind.Relative));
        Assert.Equal(5, lookup.GetProperty("recovery").GetProperty("graceSeconds").GetDouble());
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Matches(GraceCount(), metrics);
        Assert.Equal(Drops + sentThenCancelled, Redialled(metrics, "true"));
        Assert.Equal(Drops - sentThenCancelled, Redialled(metrics, "false"));
        await stream.RequestStream.CompleteAsync();
    }

    /// <summary>Other people each time (their redials must not count for the others' drops).</summary>
    private static int Party(string prefix, int i) => (prefix == "early" ? 0 : 100) + i;

    private static Task PublishDropsAsync(Scenario scenario, string prefix, DateTimeOffset dropTime) =>
        Task.WhenAll(Enumerable.Range(0, Drops).Select(i =>
        {
            var drop = Scenario.Drop($"{prefix}-{i}", scenario.Number(Party(prefix, i)), scenario.Number(500 + Party(prefix, i)), now: dropTime.AddSeconds(1));
            drop.ServingCell = Cell;
            return scenario.PublishAsync(drop);
        }));

    private static Task PublishRedialsAsync(Scenario scenario, string prefix, DateTimeOffset answered) =>
        Task.WhenAll(Enumerable.Range(0, Drops).Select(i => scenario.PublishAsync(new CallConnected
        {
            EventId = $"{prefix}-redial-{i}",
            CallId = $"{prefix}-redial-{i}",
            Caller = scenario.Number(Party(prefix, i)),
            Callee = scenario.Number(500 + Party(prefix, i)),
            AnswerTime = Timestamp.FromDateTimeOffset(answered),
            SwitchingNode = "msc-lon-1",
            ServingCell = Cell,
        })));

    private static async Task<RecoveryRecord?[]> RecoveriesAsync(Scenario scenario, string prefix) =>
        await Task.WhenAll(Enumerable.Range(0, Drops).Select(i => scenario.RecoveryAsync($"{prefix}-{i}")));

    private static double Redialled(string metrics, string callbackSent) =>
        Regex.Matches(metrics, $@"(?m)^callrecovery_recoveries_redialled_total\{{[^}}]*callrecovery_callback_sent=""{callbackSent}""[^}}]*\}} (\d+)")
            .Sum(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    [GeneratedRegex(@"(?m)^callrecovery_grace_duration_seconds_count\{[^}]*callrecovery_grace_basis=""cell""[^}]*\} [1-9]")]
    private static partial Regex GraceCount();
}
