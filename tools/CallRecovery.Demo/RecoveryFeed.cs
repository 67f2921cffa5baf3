using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using CallRecovery.Contracts;
using CallRecovery.Contracts.V1;
using Confluent.Kafka;

namespace CallRecovery.Demo;

/// <summary>Reads the outcome topic, as billing or CRM would, and tells each finished recovery as a short story.</summary>
public sealed class RecoveryFeed(string bootstrapServers)
{
    private readonly ConcurrentDictionary<string, Dictionary<Stage, DateTimeOffset>> _stages = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Outcome, int> _outcomes = new();
    private readonly ConcurrentQueue<string> _stories = new();

    public IReadOnlyDictionary<Outcome, int> Outcomes => _outcomes;

    public IReadOnlyList<string> LatestStories(int count) => [.. _stories.Reverse().Take(count)];

    public Task RunAsync(CancellationToken cancellationToken) => Task.Factory.StartNew(() =>
    {
        BundledLibrdkafka.Load();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = "callrecovery-demo-feed",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(LocalServices.OutcomesTopic);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message.Value: { } value })
                {
                    Take(RecoveryUpdate.Parser.ParseFrom(value));
                }
            }
            catch (ConsumeException)
            {
                // The demo's own Kafka is shutting down.
            }
        }

        consumer.Close();
    }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Take(RecoveryUpdate update)
    {
        var stages = _stages.GetOrAdd(update.RecoveryId, _ => []);
        if (update.ChangeCase == RecoveryUpdate.ChangeOneofCase.Stage)
        {
            lock (stages)
            {
                stages.TryAdd(update.Stage, update.At.ToDateTimeOffset());
            }

            return;
        }

        _outcomes.AddOrUpdate(update.Outcome, 1, (_, n) => n + 1);
        _stages.TryRemove(update.RecoveryId, out _);
        lock (stages)
        {
            _stories.Enqueue(Story(update, stages));
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
        if (stages.TryGetValue(Stage.CustomerRinging, out var ringing))
        {
            text.Append(CultureInfo.InvariantCulture, $"{(ringing - dropped).TotalSeconds:0.0} s later we called back{(update.Attempts > 1 ? $" (delivery attempt {update.Attempts})" : string.Empty)}; ");
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
            Outcome.Cancelled => "the two of them redialled by themselves first, so we stayed out of the way.",
            _ => update.Outcome.ToString(),
        });
        text.Append(CultureInfo.InvariantCulture, $" [call {update.CallId}]");
        return text.ToString();
    }

    public static string Mask(string number) =>
        number.Length <= 6 ? number : string.Concat(number.AsSpan(0, 3), new string('*', number.Length - 5), number.AsSpan(number.Length - 2));
}
