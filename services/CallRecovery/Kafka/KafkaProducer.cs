using CallRecovery.Probes;
using Confluent.Kafka;
using Microsoft.Extensions.Options;

namespace CallRecovery.Kafka;

/// <summary>
/// The one idempotent producer the service shares (dead letters, outcome updates), built again when librdkafka
/// reports a fatal error: an idempotent producer in a fatal state refuses every message for good, so without a new
/// one the outbox would never drain and dead letters never go. While it is fatal the replica is not ready; a send
/// that met the fatal error fails as a transient one, so its caller retries on the new producer (at least once:
/// consumers deduplicate).
/// </summary>
public sealed partial class KafkaProducer : IDisposable
{
    private readonly KafkaOptions _options;
    private readonly ServiceProblems _problems;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private IProducer<byte[]?, byte[]?> _producer;
    private volatile bool _fatal;

    public KafkaProducer(IOptions<KafkaOptions> options, ServiceProblems problems, ILoggerFactory loggers)
    {
        _options = options.Value;
        _problems = problems;
        _logger = loggers.CreateLogger("CallRecovery.Kafka.Producer");
        _producer = Build();
    }

    /// <summary>Produces and awaits the brokers' acknowledgement (all in-sync replicas).</summary>
    public async Task<DeliveryResult<byte[]?, byte[]?>> ProduceAsync(string topic, Message<byte[]?, byte[]?> message)
    {
        var producer = Current();
        try
        {
            var delivered = await producer.ProduceAsync(topic, message).ConfigureAwait(false);
            _problems.Clear(ServiceProblem.ProducerFatal);
            return delivered;
        }
        catch (KafkaException e) when (e.Error.IsFatal)
        {
            Fatal(producer, e.Error);
            // Not this message's fault: the caller retries it on the producer built again.
            throw new KafkaException(new Error(ErrorCode.Local_Fatal, "the producer was in a fatal state and is built again", isFatal: false));
        }
    }

    /// <summary>The producer to send on, built again first if the last one went fatal.</summary>
    private IProducer<byte[]?, byte[]?> Current()
    {
        if (!_fatal)
        {
            return _producer;
        }

        lock (_lock)
        {
            if (_fatal)
            {
                var old = _producer;
                _producer = Build();
                _fatal = false;
                LogRebuilt();
                // Whatever the old one still held was refused; its callers retry.
                old.Dispose();
            }

            return _producer;
        }
    }

    private void Fatal(IProducer<byte[]?, byte[]?> producer, Error error)
    {
        lock (_lock)
        {
            if (ReferenceEquals(producer, _producer) && !_fatal)
            {
                _fatal = true;
                _problems.Report(ServiceProblem.ProducerFatal, $"the Kafka producer hit a fatal error ({error.Code}); building it again");
                LogFatal(error.Code.ToString(), error.Reason);
            }
        }
    }

    private IProducer<byte[]?, byte[]?> Build()
    {
        var config = KafkaClientSettings.Producer(_options);
        IProducer<byte[]?, byte[]?>? built = null;
        built = new ProducerBuilder<byte[]?, byte[]?>(config)
            // librdkafka's own messages go to the service's log, not raw to stderr.
            .SetLogHandler((_, message) =>
            {
                var level = KafkaServiceCollectionExtensions.KafkaLogLevel(message.Level);
                LogKafka(level, message.Facility, message.Message);
            })
            // A fatal error can come outside any send (the idempotent producer's state): the next send builds anew.
            .SetErrorHandler((_, error) =>
            {
                if (error.IsFatal && built is not null)
                {
                    Fatal(built, error);
                }
            })
            .Build();
        return built;
    }

    public void Dispose() => _producer.Dispose();

    [LoggerMessage(EventId = 1010, Message = "librdkafka {Facility}: {Text}")]
    private partial void LogKafka(LogLevel level, string facility, string text);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Error, Message = "Fatal Kafka producer error {Code}: {Reason}; building the producer again")]
    private partial void LogFatal(string code, string reason);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Kafka producer built again after a fatal error")]
    private partial void LogRebuilt();
}
