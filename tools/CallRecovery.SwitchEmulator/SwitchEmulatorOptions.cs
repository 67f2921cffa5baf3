using CallRecovery.Contracts.V1;

namespace CallRecovery.SwitchEmulator;

/// <summary>How the emulated switch behaves.</summary>
public sealed record SwitchEmulatorOptions
{
    /// <summary>The service's switch endpoint (HTTP/2), e.g. "http://127.0.0.1:8081" or "https://..." for TLS.</summary>
    public required Uri ServiceAddress { get; init; }

    /// <summary>The switch (or pool) id this instance serves. Default "switch-default".</summary>
    public string SwitchId { get; init; } = "switch-default";

    /// <summary>This instance's name, for the service's logs. Default: the machine name.</summary>
    public string InstanceId { get; init; } = Environment.MachineName;

    /// <summary>The window of unacknowledged commands asked for. Default 16.</summary>
    public uint MaxUnacknowledged { get; init; } = 16;

    /// <summary>Relative weights of the final outcomes. Default: reconnected 70, no answer 10, declined 8, busy 5, other party unreachable 4, failed 3.</summary>
    public IReadOnlyDictionary<Outcome, double> OutcomeMix { get; init; } = new Dictionary<Outcome, double>
    {
        [Outcome.Reconnected] = 70,
        [Outcome.NoAnswer] = 10,
        [Outcome.CustomerDeclined] = 8,
        [Outcome.Busy] = 5,
        [Outcome.OtherPartyUnreachable] = 4,
        [Outcome.Failed] = 3,
    };

    /// <summary>The admission rate declared in Hello (new commands per second for the whole switch); 0: none declared. Default 0.</summary>
    public uint MaxCommandsPerSecond { get; init; }

    /// <summary>When set, every first callback of a recovery ends with this outcome (e.g. no answer), later ones draw from the mix. Default none.</summary>
    public Outcome? FirstCallbackOutcome { get; init; }

    /// <summary>Share of first deliveries rejected as overloaded (the service sends them again). Default 0.</summary>
    public double RejectRatio { get; init; }

    /// <summary>The failure cause of a FAILED outcome, in the switch's words. Default "q850:34 no circuit available".</summary>
    public string FailureCause { get; init; } = "q850:34 no circuit available";

    /// <summary>The detail of a rejection (as some IMS cores write it, it may name a party). Default none.</summary>
    public string RejectDetail { get; init; } = string.Empty;

    /// <summary>Pause between two progress stages of one callback. Default 300 ms.</summary>
    public TimeSpan StageDelay { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Acknowledge commands at all. False emulates a switch that receives but never answers. Default true.</summary>
    public bool Acknowledge { get; init; } = true;

    /// <summary>Wait before reconnecting after the stream broke. Default 500 ms.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>PEM client certificate and key for mutual TLS; none for plain connections.</summary>
    public string? ClientCertificatePath { get; init; }

    public string? ClientKeyPath { get; init; }

    /// <summary>PEM CA that signed the service's certificate; the machine's trust store when not given.</summary>
    public string? ServerCertificateAuthorityPath { get; init; }

    /// <summary>The switch's clock (tests run the service and the switch on one shifted clock). Default the system's.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Seed for the outcome draws, so runs repeat. Default 7.</summary>
    public int Seed { get; init; } = 7;

    /// <summary>
    /// Tests set this: a server error (a stream ended with Internal or Unknown, or a report refused as INTERNAL)
    /// ends <see cref="EmulatedSwitch.RunAsync"/> with an exception instead of being retried quietly.
    /// </summary>
    public bool FailOnServerError { get; init; }

    /// <summary>
    /// Where the instances of a pool report what they placed (recovery id to the command acted on), for whoever watches
    /// the pool (a test, the benchmark). Never consulted: each instance decides from its own record and the service's
    /// confirmations, so a callback placed by two instances shows as two placements.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, CallbackCommand>? SharedPlacements { get; init; }
}
