using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// Vulnerable customers first, end to end (Kafka events, real Redis, the switch API over HTTP/2, the HTTP API): flagged
/// on the drop event or by CRM, their callbacks are the first a switch receives when an outage ends, and under an
/// admission rate they never wait behind the other customers' queue.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class VulnerablePriorityTests(Infrastructure infrastructure) : IDisposable
{
    private const string OutageCell = "234-15-dead-07";
    private readonly TestCertificates _certificates = new();

    [Fact]
    public async Task When_an_outage_ends_the_five_flagged_customers_are_among_the_first_commands_the_switch_receives()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.OutageSettings();
        _certificates.ApplyJwtTo(settings);
        settings["Policy:VulnerableDeadline"] = "00:30:00";
        await using var service = new ServiceHost(settings).Started();
        using var crm = _certificates.Client(service, "crm-7", "subscribers:write subscribers:read");
        using var reader = _certificates.Client(service, "crm-7", "subscribers:read calls:read");

        // Two customers flagged by CRM (with an expiry), three on their drop events.
        const int normal = 200;
        var flaggedByCrm = new[] { scenario.Number(9001), scenario.Number(9002) };
        foreach (var number in flaggedByCrm)
        {
            using var set = await crm.PutAsJsonAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(number)}/vulnerable", UriKind.Relative), new { until = DateTimeOffset.UtcNow.AddDays(30) });
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        }

        using (var forbidden = await reader.PutAsJsonAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(flaggedByCrm[0])}/vulnerable", UriKind.Relative), new { until = DateTimeOffset.UtcNow.AddDays(1) }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        var shown = await reader.GetFromJsonAsync<JsonElement>(new Uri($"/v1/subscribers/{Uri.EscapeDataString(flaggedByCrm[0])}/vulnerable", UriKind.Relative));
        Assert.Equal("crm-7", shown.GetProperty("flag").GetProperty("by").GetString());
        Assert.DoesNotContain(flaggedByCrm[0], shown.GetRawText(), StringComparison.Ordinal);

        var drops = Enumerable.Range(0, normal).Select(i => Scenario.Drop($"calm-{i}", scenario.Number(i), scenario.Number(5000 + i)))
            .Concat(flaggedByCrm.Select((number, i) => Scenario.Drop($"first-crm-{i}", number, scenario.Number(6000 + i))))
            .Concat(Enumerable.Range(0, 3).Select(i =>
            {
                var drop = Scenario.Drop($"first-event-{i}", scenario.Number(7000 + i), scenario.Number(8000 + i));
                drop.Vulnerable = true;
                return drop;
            }))
            .ToList();
        foreach (var drop in drops)
        {
            drop.ServingCell = OutageCell;
        }

        // The flagged ones last, so no order of arrival explains them going first.
        await Task.WhenAll(drops.Take(normal).Select(d => scenario.PublishAsync(d)));
        await Task.WhenAll(drops.Skip(normal).Select(d => scenario.PublishAsync(d)));
        await Eventually.TrueAsync(async () => (await Task.WhenAll(drops.Select(d => scenario.RecoveryAsync(d.CallId)))).All(r => r?.State == RecoveryState.Held),
            "every recovery of the cell held", TimeSpan.FromMinutes(2));
        var flagged = (await Task.WhenAll(drops.Skip(normal).Select(d => scenario.RecoveryAsync(d.CallId)))).Select(r => r!).ToList();
        Assert.All(flagged, r => Assert.True(r.Vulnerable));
        Assert.All(flagged, r => Assert.Equal(r.DropTime.AddMinutes(30), r.Deadline));
        Assert.False((await scenario.RecoveryAsync("calm-0"))!.Vulnerable);
        var lookup = await reader.GetFromJsonAsync<JsonElement>(new Uri("/v1/calls/first-crm-0", UriKind.Relative));
        Assert.True(lookup.GetProperty("recovery").GetProperty("vulnerable").GetBoolean());

        await using var emulator = Paced(service, rate: 50);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => emulator.IsConnected, "the switch connected");
        await scenario.CellBackAsync(OutageCell);
        await Eventually.TrueAsync(() => emulator.Received.Count == drops.Count, "every held recovery dispatched after the cell came back", TimeSpan.FromMinutes(2));

        // Published last, and last in due order too: in first-come order they would be the last five of 205. Each
        // goes first in its claim; a claim slow to write (a busy machine) gives its commands new slots, vulnerable
        // customers' first, behind at most the slots handed out meanwhile (one claim's worth at this rate).
        var order = emulator.Received.ToList();
        var positions = drops.Skip(normal).Select(d => order.FindIndex(c => c.CallId == d.CallId)).ToList();
        Assert.True(positions.All(p => p is >= 0 and < 20), $"the flagged customers' commands came {string.Join(", ", positions)}th of {order.Count}");
        Assert.All(order, c => Assert.Equal(c.CallId.StartsWith("first-", StringComparison.Ordinal) ? Priority.High : Priority.Normal, c.Priority));

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    [Fact]
    public async Task Under_an_admission_rate_a_flagged_customer_never_waits_behind_the_queue_of_others()
    {
        await using var scenario = await infrastructure.NewScenarioAsync();
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:01:00";
        await using var service = new ServiceHost(settings).Started();
        const uint rate = 20;
        await using var emulator = Paced(service, rate);
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => emulator.IsConnected, "the switch connected");

        // 200 customers queue behind the switch's rate: 10 s of commands.
        const int normal = 200;
        await Task.WhenAll(Enumerable.Range(0, normal).Select(i => scenario.PublishAsync(Scenario.Drop($"queued-{i}", scenario.Number(i), scenario.Number(5000 + i)))));
        await Eventually.TrueAsync(() => emulator.Received.Count >= 30, "the queue is draining", TimeSpan.FromMinutes(1));

        var drop = Scenario.Drop("flagged", scenario.Number(7000), scenario.Number(8000));
        drop.Vulnerable = true;
        await scenario.PublishAsync(drop);
        await Eventually.TrueAsync(() => emulator.Received.Any(c => c.CallId == "flagged"), "the flagged customer's callback sent", TimeSpan.FromMinutes(1));
        var flagged = (await scenario.RecoveryAsync("flagged"))!;
        // The switch records a placement just after the command's arrival.
        await Eventually.TrueAsync(() => emulator.Placements.Any(p => p.RecoveryId == flagged.RecoveryId), "the flagged customer's callback placed");
        // When it joined the queue: decided, and past its grace period.
        var queuedAt = flagged.AcceptedAt > flagged.DueAt ? flagged.AcceptedAt : flagged.DueAt;
        var placements = emulator.Placements.OrderBy(p => p.At).ToList();
        var flaggedAt = placements.First(p => p.RecoveryId == flagged.RecoveryId).At;
        var waitingThen = normal - placements.Count(p => p.At <= queuedAt);
        var aheadOfIt = placements.Count(p => p.At > queuedAt && p.At < flaggedAt);

        // In first-come order it would have waited behind every customer still queued; it waits only for the commands
        // already given their send slots (the pace's horizon) and the claim in progress: at most one second of the rate.
        Assert.True(waitingThen >= 100, $"{waitingThen} customers were still queued when it joined");
        Assert.True(aheadOfIt <= rate, $"{aheadOfIt} commands reached the switch between its joining the queue and its own (of {waitingThen} queued)");

        await stop.CancelAsync();
        await running.DefaultTimeout();
    }

    /// <summary>A switch that takes at most <paramref name="rate"/> commands a second, and reconnects every callback.</summary>
    private static EmulatedSwitch Paced(ServiceHost service, uint rate) =>
        new(TestSwitch.Options(service) with
        {
            MaxCommandsPerSecond = rate,
            MaxUnacknowledged = 64,
            OutcomeMix = new Dictionary<Outcome, double> { [Outcome.Reconnected] = 1 },
        });

    public void Dispose() => _certificates.Dispose();
}
