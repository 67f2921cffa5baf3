using System.Diagnostics;
using System.Globalization;
using CallRecovery.Contracts;
using Confluent.Kafka;

namespace CallRecovery.TrafficSimulator;

/// <summary>
/// Publishes the calls of a <see cref="TrafficGenerator"/> to Kafka at <see cref="TrafficOptions.CallsPerSecond"/>,
/// with an idempotent producer. Deliveries are awaited in bounded batches (at most
/// <see cref="TrafficOptions.MaxInFlight"/> at once), never one by one. Runs once.
/// </summary>
public sealed class TrafficSimulator
{
    /// <summary>
    /// One span per message published (the network's report leaving its probe), the root of the trace the service
    /// continues: its W3C <c>traceparent</c> goes with the message as a Kafka header. Costs nothing when nobody listens.
    /// </summary>
    public static ActivitySource ActivitySource { get; } = new("CallRecovery.TrafficSimulator");

    private readonly TrafficOptions _options;
    private readonly TimeProvider _time;
    private readonly TextWriter? _diagnostics;
    private readonly TrafficCounterCells _counters = new();
    private int _started;
    private volatile SimulatedOutage? _lastOutage;

    /// <param name="options">Validated here, <see cref="TrafficOptions.BootstrapServers"/> included.</param>
    /// <param name="time">Paces the calls and stamps the events; default <see cref="TimeProvider.System"/>.</param>
    /// <param name="diagnostics">Where producer errors and librdkafka logs go; null drops them (deliveries that fail still fail the run).</param>
    public TrafficSimulator(TrafficOptions options, TimeProvider? time = null, TextWriter? diagnostics = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(forPublishing: true);
        _options = options;
        _time = time ?? TimeProvider.System;
        _diagnostics = diagnostics is null ? null : TextWriter.Synchronized(diagnostics);
        Generator = new TrafficGenerator(options, _time);
    }

    /// <summary>Raised on the run loop once every message of a call has been acknowledged by Kafka (a redial and re-attaches, too).</summary>
    public event EventHandler<SimulatedCall>? CallPublished;

    /// <summary>Raised on the run loop when an outage begins (its drops and CellInService are then scheduled, not yet published).</summary>
    public event EventHandler<SimulatedOutage>? OutageStarted;

    /// <summary>The latest outage begun, or null; safe to read from any thread while running.</summary>
    public SimulatedOutage? LastOutage => _lastOutage;

    public TrafficOptions Options => _options;

    /// <summary>The generator behind the run: its subscriber pool and repeat droppers.</summary>
    public TrafficGenerator Generator { get; }

    /// <summary>A snapshot of what has been published so far; safe to read from any thread while running.</summary>
    public TrafficCounters Counters => _counters.Snapshot();

    /// <summary>
    /// Publishes until <see cref="TrafficOptions.Duration"/> or <see cref="TrafficOptions.MaxCalls"/> is reached (then
    /// waits for the redials, re-attaches and CellInService still due; no outage begins after) or until <paramref name="cancellationToken"/> fires (then publishes
    /// nothing new). Either way it settles every delivery in flight and flushes the producer, and returns the final
    /// counters; cancellation is a normal stop, not an exception. A failed delivery fails the run.
    /// </summary>
    public async Task<TrafficCounters> RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("A TrafficSimulator runs once; create another for another run.");
        }

        using var producer = BuildProducer();
        var inFlight = new List<InFlight>(_options.MaxInFlight);
        try
        {
            await PublishAsync(producer, inFlight, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Asked to stop: calls not yet due are dropped; what was produced is settled below.
        }

        await SettleAsync(inFlight);
        producer.Flush(TimeSpan.FromSeconds(10));
        return Counters;
    }

    private async Task PublishAsync(IProducer<byte[]?, byte[]?> producer, List<InFlight> inFlight, CancellationToken cancellationToken)
    {
        // Due messages in due order; ties keep generation order.
        var pending = new PriorityQueue<InFlightCall.Part, (DateTimeOffset Due, long Order)>();
        long order = 0;
        long made = 0;
        var start = _time.GetUtcNow();
        var stopAt = _options.Duration is { } duration ? start + duration : DateTimeOffset.MaxValue;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var now = _time.GetUtcNow();
            while (pending.TryPeek(out var part, out var key) && key.Due <= now)
            {
                pending.Dequeue();
                inFlight.Add(new InFlight(producer.ProduceAsync(_options.Topic, Traced(part), CancellationToken.None), part));
                if (inFlight.Count >= _options.MaxInFlight)
                {
                    await SettleAsync(inFlight);
                }
            }

            // Calls are paced against the start, so a slow moment is caught up rather than lost.
            var nextCallAt = start + TimeSpan.FromSeconds(made / _options.CallsPerSecond);
            var withinLimits = _options.MaxCalls is not { } max || made < max;
            var generating = withinLimits && nextCallAt < stopAt;

            // An outage due now: its calls drop over the next seconds and its cell is back after the outage's duration.
            var outageAt = withinLimits && Generator.NextOutageAt is { } scheduled && scheduled < stopAt ? scheduled : (DateTimeOffset?)null;
            if (outageAt <= now && Generator.NextOutage(now) is { } outage)
            {
                _lastOutage = outage;
                foreach (var call in outage.Calls)
                {
                    foreach (var message in new InFlightCall(call).Parts)
                    {
                        pending.Enqueue(message, (message.Message.Due, order++));
                    }
                }

                pending.Enqueue(new InFlightCall.Part(null, outage.CellInService), (outage.CellInService.Due, order++));
                OutageStarted?.Invoke(this, outage);
                continue;
            }

            if (generating && nextCallAt <= now)
            {
                var call = new InFlightCall(Generator.NextCall(now));
                made++;
                foreach (var message in call.Parts)
                {
                    pending.Enqueue(message, (message.Message.Due, order++));
                }

                continue;
            }

            // Nothing due: settle this batch before sleeping, so deliveries never pile up.
            await SettleAsync(inFlight);
            if (!generating && pending.Count == 0 && outageAt is null)
            {
                return;
            }

            var wake = generating ? nextCallAt : DateTimeOffset.MaxValue;
            if (outageAt < wake)
            {
                wake = outageAt.Value;
            }

            if (pending.TryPeek(out _, out var next) && next.Due < wake)
            {
                wake = next.Due;
            }

            var wait = wake - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time, cancellationToken);
            }
        }
    }

    /// <summary>Awaits the batch, counts what Kafka acknowledged, then rethrows the first failed delivery.</summary>
    private async Task SettleAsync(List<InFlight> inFlight)
    {
        if (inFlight.Count == 0)
        {
            return;
        }

        await Task.WhenAll(inFlight.Select(f => (Task)f.Delivery)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task? failed = null;
        foreach (var (delivery, part) in inFlight)
        {
            if (!delivery.IsCompletedSuccessfully)
            {
                failed ??= delivery;
                continue;
            }

            _counters.Published(part.Call?.Call, part.Message);
            if (part.Call is not null && part.Call.Delivered())
            {
                CallPublished?.Invoke(this, part.Call.Call);
            }
        }

        inFlight.Clear();
        if (failed is not null)
        {
            await failed;
        }
    }

    /// <summary>The message as scheduled, or with the traceparent of its publish span when someone listens.</summary>
    private Message<byte[]?, byte[]?> Traced(InFlightCall.Part part)
    {
        var message = part.Message.Message;
        if (!ActivitySource.HasListeners())
        {
            return message;
        }

        // Each report starts a trace of its own, never a child of whatever span is ambient.
        Activity.Current = null;
        using var publish = ActivitySource.StartActivity(_options.Topic + " publish", ActivityKind.Producer);
        Activity.Current = null;
        if (publish?.Id is not { } traceParent)
        {
            return message;
        }

        // Messaging semantic conventions; the call id and the event's kind, never a number.
        publish.SetTag("messaging.system", "kafka")
            .SetTag("messaging.operation.type", "send")
            .SetTag("messaging.operation.name", "publish")
            .SetTag("messaging.destination.name", _options.Topic)
            .SetTag("callrecovery.event", part.Message.Kind.ToString());
        if (part.Call is not null)
        {
            publish.SetTag("callrecovery.call_id", part.Call.Call.CallId);
        }

        var headers = new Headers();
        foreach (var header in message.Headers ?? [])
        {
            headers.Add(header.Key, header.GetValueBytes());
        }

        headers.Add("traceparent", System.Text.Encoding.ASCII.GetBytes(traceParent));
        return new Message<byte[]?, byte[]?> { Key = message.Key, Value = message.Value, Headers = headers, Timestamp = message.Timestamp };
    }

    private IProducer<byte[]?, byte[]?> BuildProducer()
    {
        // The librdkafka bundled with Confluent.Kafka, never a system one (Debian's, installed with kcat, is too old).
        BundledLibrdkafka.Load();
        var config = new ProducerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            ClientId = "callrecovery-traffic-simulator",
            // Retries never duplicate or reorder a report: the service would see a redelivery, not traffic.
            EnableIdempotence = true,
            Acks = Acks.All,
            // Small: enough to batch at demo rates, short enough that a test sees its calls at once.
            LingerMs = 5,
            // Murmur2, as Java producers partition, so keys land where a real network probe would put them.
            Partitioner = Partitioner.Murmur2Random,
        };
        return new ProducerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, error) => _diagnostics?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"kafka error {error.Code}{(error.IsFatal ? " (fatal)" : string.Empty)}: {error.Reason}")))
            .SetLogHandler((_, log) => _diagnostics?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"kafka {log.Level} {log.Facility}: {log.Message}")))
            .Build();
    }

    private readonly record struct InFlight(Task<DeliveryResult<byte[]?, byte[]?>> Delivery, InFlightCall.Part Part);

    /// <summary>A call whose messages are on their way; it is published when the last one is acknowledged.</summary>
    private sealed class InFlightCall
    {
        private int _remaining;

        public InFlightCall(SimulatedCall call)
        {
            Call = call;
            _remaining = call.Messages.Count;
            Parts = [.. call.Messages.Select(message => new Part(this, message))];
        }

        public SimulatedCall Call { get; }

        public IReadOnlyList<Part> Parts { get; }

        /// <summary>One more message acknowledged; true when it was the last.</summary>
        public bool Delivered() => --_remaining == 0;

        /// <param name="Call">The call the message belongs to; null for one of no call (a CellInService).</param>
        /// <param name="Message">The message to publish.</param>
        public sealed record Part(InFlightCall? Call, ScheduledMessage Message);
    }
}
