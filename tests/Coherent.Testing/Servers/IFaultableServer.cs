namespace Coherent.Testing;

/// <summary>A real server process that a fault schedule can pause, kill and restart.</summary>
public interface IFaultableServer
{
    string Endpoint { get; }

    /// <summary>SIGSTOP: frozen, connections stay open (a half-dead peer).</summary>
    void Pause();

    /// <summary>SIGCONT.</summary>
    void Resume();

    /// <summary>SIGKILL: gone, connections reset, nothing persisted.</summary>
    void Kill();

    /// <summary>Starts the process again on the same port.</summary>
    Task StartAsync();
}
