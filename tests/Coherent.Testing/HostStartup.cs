using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Coherent.Testing;

/// <summary>What the generic host does with a container when it starts, for tests that have no host.</summary>
public static class HostStartup
{
    /// <summary>
    /// Runs the startup validators <c>ValidateOnStart</c> registered, as the host does before any hosted service: on
    /// net10.0 (Microsoft.Extensions.Options 11) through <c>IAsyncStartupValidator</c>, which replaced the synchronous one.
    /// </summary>
    public static void Validate(IServiceProvider provider)
    {
#if NET10_0_OR_GREATER
        provider.GetRequiredService<IAsyncStartupValidator>().ValidateAsync(CancellationToken.None).GetAwaiter().GetResult();
#else
        provider.GetRequiredService<IStartupValidator>().Validate();
#endif
    }
}
