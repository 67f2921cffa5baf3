namespace CallRecovery.Probes;

/// <summary>
/// Work that must wait although Redis and Kafka answer: the writes it depends on are not durable yet, or the
/// outboxes are over their bound. Transient (<see cref="TransientErrors.IsTransient"/>): nothing is confirmed, the
/// work is tried again, and the replica is not ready meanwhile (<see cref="Problem"/>). The message is the service's
/// words, never data.
/// </summary>
public sealed class HeldBackException : Exception
{
    public HeldBackException(ServiceProblem problem, string reason)
        : base(reason) => Problem = problem;

    public HeldBackException()
    {
    }

    public HeldBackException(string message)
        : base(message)
    {
    }

    public HeldBackException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ServiceProblem? Problem { get; }
}
