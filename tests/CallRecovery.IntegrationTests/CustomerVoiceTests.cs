using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts.V1;
using CallRecovery.IntegrationTests.Fixtures;
using CallRecovery.Policy;
using CallRecovery.Recoveries;
using Google.Protobuf;
using Grpc.Net.Client;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The customer's own say, end to end (Kafka events, real Redis, the switch API over HTTP/2, the HTTP API): their
/// "cancel" stops a callback wherever its switch is connected, "not for N days" suppresses the next drop with its own
/// reason, and CRM can list and cancel their queued callbacks.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class CustomerVoiceTests(Infrastructure infrastructure) : IDisposable
{
    private readonly TestCertificates _certificates = new();

    [Fact]
    public async Task A_customers_cancel_stops_a_callback_at_a_switch_connected_to_another_replica()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 2);
        var settings = scenario.Settings();
        settings["Switching:AcknowledgementTimeout"] = "00:05:00";
        // Replica A reads the events; replica B only serves the switch (its consumer reads a topic nobody writes).
        await using var a = new ServiceHost(settings).Started();
        var idle = $"{scenario.Id}.idle";
        await infrastructure.Kafka.CreateTopicAsync(idle, 1);
        var onlySwitches = scenario.Settings(groupId: $"{scenario.Id}.b");
        onlySwitches["Kafka:InputTopics:0"] = idle;
        onlySwitches["Switching:AcknowledgementTimeout"] = "00:05:00";
        await using var b = new ServiceHost(onlySwitches).Started();
        using var channel = GrpcChannel.ForAddress(b.SwitchingAddress);
        using var stream = await RawSwitch.HelloAsync(channel, "never-acknowledges");

        var customer = scenario.Number(1);
        await scenario.PublishAsync(Scenario.Drop("queued", customer, scenario.Number(2)));
        var command = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Command)).Command;

        await PublishAnswerAsync(scenario, customer, CustomerAnswer.CancelCallbacks);
        var cancel = (await RawSwitch.NextAsync(stream, ServiceMessage.MessageOneofCase.Cancel)).Cancel;
        Assert.Equal(command.RecoveryId, cancel.RecoveryId);
        var recovery = (await scenario.RecoveryAsync("queued"))!;
        Assert.Equal(RecoveryState.Cancelled, recovery.State);
        Assert.Contains("asked us not to call back (sms reply)", recovery.Detail, StringComparison.Ordinal);
        await stream.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task No_callbacks_for_two_days_suppresses_the_next_drop_with_its_own_reason()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        var customer = scenario.Number(1);

        // They answered ten seconds ago; the drop comes after (a second ago), in the same batch or a later one.
        await PublishAnswerAsync(scenario, customer, CustomerAnswer.NoCallbacksForDays, days: 2, at: DateTimeOffset.UtcNow.AddSeconds(-10));
        await scenario.PublishAsync(Scenario.Drop("after-answer", customer, scenario.Number(2)));
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("after-answer") == 1, "the drop is decided");
        Assert.Equal(DecisionReason.CustomerNotNow, Assert.Single(await scenario.DecisionsAsync("after-answer")).Reason);
        Assert.Null(await scenario.RecoveryAsync("after-answer"));

        // Someone else's drop is called back as always.
        await scenario.PublishAsync(Scenario.Drop("someone-else", scenario.Number(3), scenario.Number(4)));
        await Eventually.TrueAsync(async () => await scenario.DecisionCountAsync("someone-else") == 1, "the other drop is decided");
        Assert.Equal(DecisionReason.Accepted, Assert.Single(await scenario.DecisionsAsync("someone-else")).Reason);
    }

    [Fact]
    public async Task Of_two_answers_read_together_the_one_from_before_the_drop_gives_way_to_the_other()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        // The callback stays queued while the answers are read, and the two answers are read as one batch.
        await using var service = new ServiceHost(scenario.ReadTogetherSettings()).Started();
        var (customer, other) = (scenario.Number(1), scenario.Number(2));
        await scenario.PublishAsync(Scenario.Drop("dropped", customer, other));
        await Eventually.TrueAsync(async () => await scenario.RecoveryAsync("dropped") is not null, "the recovery was decided");

        // The customer's answer in the app (arriving late) was about a callback before this drop: it cancels nothing here.
        // The other party's by SMS, published with it (in this order, one partition: one batch), is about this one, and
        // must not be hidden behind it.
        await Task.WhenAll(
            PublishAnswerAsync(scenario, customer, CustomerAnswer.CancelCallbacks, at: DateTimeOffset.UtcNow.AddMinutes(-1), channel: ResponseChannel.App),
            PublishAnswerAsync(scenario, other, CustomerAnswer.CancelCallbacks));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("dropped"))?.State == RecoveryState.Cancelled, "the other party's answer cancelled the callback");
        Assert.Contains("asked us not to call back (sms reply)", (await scenario.RecoveryAsync("dropped"))!.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crm_lists_a_customers_queued_callbacks_and_cancels_one_audited()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        await using var service = new ServiceHost(settings).Started();
        using var reader = _certificates.Client(service, "crm-1", "calls:read");
        using var crm = _certificates.Client(service, "crm-1", "recoveries:write");
        var customer = scenario.Number(1);

        // No switch connected: the callback waits in its queue.
        await scenario.PublishAsync(Scenario.Drop("waiting", customer, scenario.Number(2)));
        await Eventually.TrueAsync(async () => (await scenario.RecoveryAsync("waiting"))?.State == RecoveryState.Pending, "the callback is queued");
        var listed = await reader.GetFromJsonAsync<JsonElement>($"/v1/subscribers/{Uri.EscapeDataString(customer)}/recoveries");
        var queued = Assert.Single(listed.GetProperty("recoveries").EnumerateArray());
        var recoveryId = queued.GetProperty("recoveryId").GetString()!;
        Assert.DoesNotContain(customer, listed.GetRawText(), StringComparison.Ordinal);

        using (var forbidden = await reader.DeleteAsync(new Uri($"/v1/recoveries/{recoveryId}", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        using (var cancelled = await crm.DeleteAsync(new Uri($"/v1/recoveries/{recoveryId}", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        }

        Assert.Equal(RecoveryState.Cancelled, (await scenario.RecoveryAsync("waiting"))!.State);
        using (var again = await crm.DeleteAsync(new Uri($"/v1/recoveries/{recoveryId}", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        }

        Assert.Empty((await reader.GetFromJsonAsync<JsonElement>($"/v1/subscribers/{Uri.EscapeDataString(customer)}/recoveries")).GetProperty("recoveries").EnumerateArray());
    }

    public void Dispose() => _certificates.Dispose();


    private static Task PublishAnswerAsync(Scenario scenario, string customer, CustomerAnswer answer, uint days = 0, DateTimeOffset? at = null, ResponseChannel channel = ResponseChannel.SmsReply) =>
        scenario.PublishRawAsync(new NetworkEvent
        {
            CustomerResponded = new CustomerResponded
            {
                EventId = $"answer-{Guid.NewGuid():N}",
                Number = customer,
                Channel = channel,
                Answer = answer,
                Days = days,
                At = Timestamp.FromDateTimeOffset(at ?? DateTimeOffset.UtcNow),
            },
        }.ToByteArray(), customer);
}
