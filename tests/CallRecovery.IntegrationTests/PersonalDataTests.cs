using System.Globalization;
using System.Text;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Recoveries;
using CallRecovery.SwitchEmulator;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// No phone number where people read: a whole scenario at Debug level (recoveries, opt-outs through the API, the
/// engineers' lookups, a hostile event, Redis stopped and started again in the middle), then every log line,
/// every exported span and every dead-letter header is searched for the scenario's numbers.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class PersonalDataTests(Infrastructure infrastructure) : IDisposable
{
    private readonly TestCertificates _certificates = new();

    [Fact]
    public async Task No_log_line_span_or_dead_letter_header_holds_a_phone_number()
    {
        await using var redis = await Endpoints.StartRedisAsync();
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1, redis: redis);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        // Subscriber keys by keyed hash: the keys in Redis name no one either.
        settings["Redis:SubscriberKeySecret"] = "a-test-secret-of-at-least-32-characters!";
        settings["Logging:LogLevel:Default"] = "Debug";
        settings["Logging:LogLevel:Microsoft"] = "Debug";
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug";
        settings["Logging:LogLevel:Grpc"] = "Debug";
        var spans = new ExportedSpans();
        await using var service = new ServiceHost(settings, services =>
        {
            services.AddLogging(logging => logging.AddFakeLogging());
            services.AddOpenTelemetry().WithTracing(t => t.AddInMemoryExporter(spans));
        }).Started();
        var numbers = Enumerable.Range(0, 8).Select(scenario.Number).ToList();
        // Redis stops in this scenario: a stream the service ends is reconnected, not a test failure.
        // The switch's own words name parties too, as IMS cores write them: its instance name, a rejection detail and a
        // failure cause (not one retried, so each recovery ends with it).
        await using var emulator = new EmulatedSwitch(TestSwitch.Options(service, "private") with
        {
            FailOnServerError = false,
            InstanceId = $"pod-{numbers[1]}",
            RejectRatio = 0.5,
            RejectDetail = $"not served here: tel:{numbers[0]};phone-context=ims",
            OutcomeMix = new Dictionary<Outcome, double> { [Outcome.Failed] = 100 },
            FailureCause = $"q850:21 SIP 480 from sip:{numbers[1]}@ims.operator.net;user=phone, called {numbers[0][..3]} {numbers[0][3..7]} {numbers[0][7..]}",
        });
        using var stop = new CancellationTokenSource();
        var running = emulator.RunAsync(stop.Token);
        using var http = _certificates.Client(service, "crm-agent-1", "calls:read subscribers:read optout:write");

        // A recovery, the CRM's opt-out changes and the engineers' lookups.
        await scenario.PublishAsync(Scenario.Drop("call-private-1", numbers[0], numbers[1]));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-private-1"))?.State == RecoveryState.Completed, "the first recovery completed");
        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Get, HttpMethod.Delete, HttpMethod.Put })
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, new Uri($"/v1/subscribers/{Uri.EscapeDataString(numbers[2])}/opt-out", UriKind.Relative)));
            response.EnsureSuccessStatusCode();
        }

        using var callRecord = await http.GetAsync(new Uri("/v1/calls/call-private-1", UriKind.Relative));
        callRecord.EnsureSuccessStatusCode();
        var answers = new List<(string Where, string Text)> { ("HTTP call record", await callRecord.Content.ReadAsStringAsync()) };

        // The opt-out, kept under a hashed key, still protects its subscriber.
        await scenario.PublishAsync(Scenario.Drop("call-opted-out", numbers[2], numbers[1]));
        await Eventually.TrueAsync(async () => (await scenario.DecisionsAsync("call-opted-out")).Any(d => d.Reason == CallRecovery.Policy.DecisionReason.OptedOut), "the opted-out subscriber is not called");
        using (var channel = GrpcChannel.ForAddress(service.SwitchingAddress))
        {
            // The lookup asks for the HTTP API's scopes: the engineers' token.
            var lookup = new RecoveryLookup.RecoveryLookupClient(channel);
            var engineer = new Grpc.Core.Metadata { { "authorization", "Bearer " + _certificates.Token("engineer-1", "calls:read subscribers:read") } };
            answers.Add(("gRPC timeline by subscriber", (await lookup.GetTimelineAsync(new TimelineRequest { Subscriber = numbers[0] }, engineer).ResponseAsync.DefaultTimeout()).ToString()));
            answers.Add(("gRPC timeline by call", (await lookup.GetTimelineAsync(new TimelineRequest { CallId = "call-private-1" }, engineer).ResponseAsync.DefaultTimeout()).ToString()));
        }

        // The switch's text is kept for the engineers, with the numbers masked.
        // The rejection details (which name a party) were sent and went through the service's logs and traces.
        Assert.True(emulator.Rejected > 0, "no command was rejected with a detail");
        var stored = await scenario.RecoveryAsync("call-private-1");
        Assert.Contains("sip:[number]@ims.operator.net", stored!.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain($"{numbers[0][..3]} {numbers[0][3..7]}", stored.Detail, StringComparison.Ordinal);
        answers.Add(("stored recovery detail", stored.Detail));

        // A hostile event: numbers in a time field and in an unknown field of canonical JSON.
        await scenario.PublishRawAsync(
            Encoding.UTF8.GetBytes($$$"""{"eventId":"e-hostile","callDropped":{"callId":"call-hostile","caller":"{{{numbers[3]}}}","callee":"{{{numbers[4]}}}","dropTime":"{{{numbers[5]}}}","answerTime":"{{{numbers[6]}}}"}}"""),
            "call-hostile", contentType: "application/json");

        // Redis goes away in the middle of a recovery and comes back.
        await redis.StopAsync();
        await scenario.PublishAsync(Scenario.Drop("call-private-2", numbers[6], numbers[7]));
        await Eventually.TrueAsync(async () => (await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode == System.Net.HttpStatusCode.ServiceUnavailable, "not ready while Redis is down");

        using (var optOutWhileDown = await http.PutAsync(new Uri($"/v1/subscribers/{Uri.EscapeDataString(numbers[7])}/opt-out", UriKind.Relative), null))
        {
            Assert.False(optOutWhileDown.IsSuccessStatusCode);
        }

        await redis.StartAsync();
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("call-private-2"))?.State == RecoveryState.Completed, "the second recovery completed after Redis came back");
        var deadLetters = scenario.ReadDeadLetters(expected: 1);
        // Outcome events name the parties on purpose (CRM apologises to the customer, billing charges the line): every
        // other field, the switch's text among them, must not.
        var outcomeEvents = scenario.ReadTopic(scenario.OutcomeTopic, 2, expected: int.MaxValue, quiet: TimeSpan.FromSeconds(2))
            .Select(m => RecoveryUpdate.Parser.ParseFrom(m.Message.Value)).ToList();
        Assert.Contains(outcomeEvents, e => e.Detail.Contains("sip:[number]@ims", StringComparison.Ordinal));
        answers.AddRange(outcomeEvents.Select(e =>
        {
            var withoutParties = e.Clone();
            withoutParties.Customer = string.Empty;
            withoutParties.OtherParty = string.Empty;
            return ("outcome event", withoutParties.ToString());
        }));
        await stop.CancelAsync();
        await running.DefaultTimeout();

        // Every place a person reads: log records (message, structured values, exceptions), spans, dead-letter headers.
        var logs = service.Services.GetFakeLogCollector().GetSnapshot();
        Assert.NotEmpty(logs);
        Assert.Contains(logs, l => l.Level == LogLevel.Debug);
        Assert.Contains(logs, l => l.Category == CallRecovery.HttpApi.CallLookupEndpoints.AuditCategory);
        var texts = new List<(string Where, string Text)>(answers);
        foreach (var log in logs)
        {
            texts.Add(($"log {log.Category}", log.Message));
            texts.AddRange((log.StructuredState ?? []).Select(kv => ($"log {log.Category} {kv.Key}", kv.Value ?? string.Empty)));
            if (log.Exception is not null)
            {
                texts.Add(($"log {log.Category} exception", log.Exception.ToString()));
            }
        }

        var exported = spans.Snapshot();
        Assert.NotEmpty(exported);
        foreach (var span in exported)
        {
            texts.Add(($"span {span.DisplayName}", span.DisplayName));
            texts.Add(($"span {span.DisplayName} status", span.StatusDescription ?? string.Empty));
            texts.AddRange(span.TagObjects.Select(t => ($"span {span.DisplayName} {t.Key}", Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? string.Empty)));
            texts.AddRange(span.Events.SelectMany(e => e.Tags.Select(t => ($"span {span.DisplayName} event {e.Name}", Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? string.Empty))));
        }

        Assert.NotEmpty(deadLetters);
        texts.AddRange(deadLetters.SelectMany(m => m.Message.Headers.Select(h => ($"dead-letter header {h.Key}", Encoding.UTF8.GetString(h.GetValueBytes() ?? [])))));

        var db = await scenario.RedisAsync();
        var server = db.Multiplexer.GetServers().Single();
        var keys = server.Keys(pattern: scenario.KeyPrefix + ":*", pageSize: 1000).Select(k => k.ToString()).ToList();
        Assert.Contains(keys, k => k.Contains(":{s:h", StringComparison.Ordinal));
        texts.AddRange(keys.Select(k => ("Redis key " + k, k)));

        // The full number, and its digits without the '+' (a national or stripped form would still be personal).
        var leaks = texts.Where(t => numbers.Any(n => t.Text.Contains(n, StringComparison.Ordinal) || t.Text.Contains(n[1..], StringComparison.Ordinal)))
            .Select(t => t.Where).Distinct().ToList();
        Assert.True(leaks.Count == 0, "phone numbers found in: " + string.Join("; ", leaks));
    }

    public void Dispose() => _certificates.Dispose();
}
