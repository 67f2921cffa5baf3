using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;

namespace CallRecovery.Demo;

/// <summary>
/// Reads the outcome topic, as billing or CRM would, and tells each finished recovery as a short story, and each
/// callback that is tried again (an outcome with next_attempt_at: no answer, busy) as one too; and the compensation
/// topic, as CRM and billing would: the apology and credit for each recovery that failed.
/// </summary>
public sealed class RecoveryFeed(string bootstrapServers, TraceDashboard? traces = null)
{
    // Stages reached, per recovery and callback attempt ("recovery id/attempt").
    private readonly ConcurrentDictionary<string, Dictionary<Stage, DateTimeOffset>> _stages = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Outcome, int> _outcomes = new();
    private readonly ConcurrentDictionary<Outcome, int> _retrying = new();
    private readonly ConcurrentQueue<string> _stories = new();
    private readonly ConcurrentDictionary<string, Compensation> _compensations = new(StringComparer.Ordinal);

    /// <summary>Final outcomes so far.</summary>
    public IReadOnlyDictionary<Outcome, int> Outcomes => _outcomes;

    /// <summary>Outcomes of callbacks the service tries again (next_attempt_at set): not final.</summary>
    public IReadOnlyDictionary<Outcome, int> Retrying => _retrying;

    public IReadOnlyList<string> LatestStories(int count) => [.. _stories.Reverse().Take(count)];

    /// <summary>Compensations read (one per recovery: copies Kafka delivered twice counted once), with a credit, capped.</summary>
    public (int All, int Credited, int Capped) Compensations =>
        (_compensations.Count, _compensations.Values.Count(c => c.Credit is not null), _compensations.Values.Count(c => c.Capped));

    public Task RunAsync(CancellationToken cancellationToken) => Task.Factory.StartNew(() =>
    {
        BundledLibrdkafka.Load();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = "callrecovery-demo-feed",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe([LocalServices.OutcomesTopic, LocalServices.CompensationsTopic]);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is { Topic: LocalServices.CompensationsTopic, Message.Value: { } amends })
                {
                    Take(Compensation.Parser.ParseFrom(amends));
                }
                else if (result is { Message.Value: { } value })
                {
                    Take(RecoveryUpdate.Parser.ParseFrom(value), TraceIdOf(result.Message.Headers));
                }
            }
            catch (ConsumeException)
            {
                // The demo's own Kafka is shutting down.
            }
        }

        consumer.Close();
    }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Take(Compensation compensation)
    {
        if (!_compensations.TryAdd(compensation.CompensationId, compensation))
        {
            // Delivered again (Kafka is at least once): deduplicated on the compensation id, as CRM and billing do.
            return;
        }

        var credit = compensation.Credit?.KindCase switch
        {
            Credit.KindOneofCase.FreeMinutes => string.Create(CultureInfo.InvariantCulture, $"credited {compensation.Credit.FreeMinutes} free minutes"),
            Credit.KindOneofCase.Amount => string.Create(CultureInfo.InvariantCulture, $"credited {compensation.Credit.Amount.MinorUnits} {compensation.Credit.Amount.Currency} minor units"),
            _ => compensation.Capped ? "no credit: they had their daily credits already" : "no credit",
        };
        _stories.Enqueue(string.Create(CultureInfo.InvariantCulture,
            $"{compensation.At.ToDateTimeOffset():HH:mm:ss} We made amends to {Mask(compensation.Customer)}: an apology by {compensation.Apology.Channel} ({compensation.Apology.TemplateId}, {compensation.Apology.Language}), {credit}. [call {compensation.CallId}]"));
    }

    /// <summary>The trace id of the recovery's trace, from the outcome's traceparent header (W3C: version-traceid-spanid-flags).</summary>
    private static string? TraceIdOf(Headers? headers) =>
        headers is not null && headers.TryGetLastBytes("traceparent", out var bytes) && System.Diagnostics.ActivityContext.TryParse(Encoding.ASCII.GetString(bytes), null, out var context)
            ? context.TraceId.ToHexString()
            : null;

    private void Take(RecoveryUpdate update, string? traceId)
    {
        var attempt = Math.Max(1u, update.CallbackAttempt);
        var stages = _stages.GetOrAdd(StagesKey(update.RecoveryId, attempt), _ => []);
        if (update.ChangeCase == RecoveryUpdate.ChangeOneofCase.Stage)
        {
            lock (stages)
            {
                stages.TryAdd(update.Stage, update.At.ToDateTimeOffset());
            }

            return;
        }

        if (update.NextAttemptAt is not null)
        {
            // Not final: the service calls again later; that callback's stages are its own.
            _retrying.AddOrUpdate(update.Outcome, 1, (_, n) => n + 1);
            _stages.TryRemove(StagesKey(update.RecoveryId, attempt), out _);
        }
        else
        {
            _outcomes.AddOrUpdate(update.Outcome, 1, (_, n) => n + 1);
            for (var earlier = 1u; earlier <= attempt; earlier++)
            {
                _stages.TryRemove(StagesKey(update.RecoveryId, earlier), out _);
            }
        }

        lock (stages)
        {
            _stories.Enqueue(Story(update, stages) + (traces is not null && traceId is not null ? $" trace: {traces.TraceLink(traceId)}" : string.Empty));
        }

        while (_stories.Count > 50)
        {
            _stories.TryDequeue(out _);
        }
    }

    /// <summary>Plain words, numbers masked.</summary>
    public static string Story(RecoveryUpdate update, IReadOnlyDictionary<Stage, DateTimeOffset> stages)
    {
        var dropped = update.DropTime.ToDateTimeOffset();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{dropped:HH:mm:ss} {Mask(update.Customer)}'s call with {Mask(update.OtherParty)} dropped. ");
        if (update.IncidentId.Length > 0 && update.Outcome != Outcome.OutageNotRecovered)
        {
            text.Append(CultureInfo.InvariantCulture, $"Their cell was in an outage (incident {update.IncidentId}), so we held the callback until it carried traffic again. ");
        }

        if (stages.TryGetValue(Stage.CustomerRinging, out var ringing))
        {
            var which = update.CallbackAttempt > 1 ? string.Create(CultureInfo.InvariantCulture, $" (callback {update.CallbackAttempt})") : string.Empty;
            // Deliveries are counted over the whole recovery, so they say something of their own only for the first callback.
            var deliveries = update.Attempts > 1 && update.CallbackAttempt <= 1 ? string.Create(CultureInfo.InvariantCulture, $" (delivery attempt {update.Attempts})") : string.Empty;
            text.Append(CultureInfo.InvariantCulture, $"{(ringing - dropped).TotalSeconds:0.0} s later we called back{which}{deliveries}; ");
        }

        if (update.NextAttemptAt is { } next)
        {
            text.Append(update.Outcome switch
            {
                Outcome.NoAnswer => "no answer, retrying",
                Outcome.Busy => "the line was busy, retrying",
                Outcome.Failed => $"the switch could not place the call ({update.Detail}), retrying",
                _ => $"{update.Outcome}, retrying",
            });
            text.Append(CultureInfo.InvariantCulture, $" at {next.ToDateTimeOffset():HH:mm:ss}.");
            text.Append(CultureInfo.InvariantCulture, $" [call {update.CallId}]");
            return text.ToString();
        }

        text.Append(update.Outcome switch
        {
            Outcome.Reconnected => string.Create(CultureInfo.InvariantCulture, $"they took the free reconnection and talked {update.TalkTime.ToTimeSpan():m\\:ss} more{(update.SurveyScore > 0 ? $", rating us {update.SurveyScore}/5" : string.Empty)}."),
            Outcome.CustomerDeclined => "they thanked us and declined the reconnection.",
            Outcome.NoAnswer => "nobody answered.",
            Outcome.Busy => "the line was busy.",
            Outcome.OtherPartyUnreachable => "they accepted, but the other party could not be reached.",
            Outcome.Failed => $"the switch could not place the call ({update.Detail}).",
            Outcome.Expired => $"no callback went out in time: {update.Detail}.",
            Outcome.Cancelled when update.Detail.StartsWith("the customer asked", StringComparison.Ordinal) => $"they answered us themselves - {update.Detail} - so we cancelled the callback.",
            Outcome.Cancelled when update.Detail.StartsWith("the parties reached each other", StringComparison.Ordinal) => "the two of them redialled by themselves first, so we stayed out of the way.",
            Outcome.Cancelled => $"we stood down: {update.Detail}.",
            Outcome.OutageNotRecovered => $"their cell was still out of service (outage incident {(update.IncidentId.Length > 0 ? update.IncidentId : "?")}) when the callback deadline passed, so no callback went out.",
            Outcome.CustomerUnreachable => "they had lost coverage and their phone did not come back before the callback deadline, so we could not call.",
            Outcome.QuietHours => "the callback would have fallen in their quiet hours, which last past the deadline, so we did not call.",
            _ => update.Outcome.ToString(),
        });
        text.Append(CultureInfo.InvariantCulture, $" [call {update.CallId}]");
        return text.ToString();
    }

    private static string StagesKey(string recoveryId, uint callbackAttempt) => string.Create(CultureInfo.InvariantCulture, $"{recoveryId}/{callbackAttempt}");

    public static string Mask(string number) =>
        number.Length <= 6 ? number : string.Concat(number.AsSpan(0, 3), new string('*', number.Length - 5), number.AsSpan(number.Length - 2));
}
