namespace Coherent.Memcached.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Every_problem_is_listed_in_one_exception()
    {
        var options = new CoherentMemcachedOptions
        {
            Servers = "127.0.0.1:11211, nohost, 10.0.0.1:99999,127.0.0.1:11211,[::1]:11212=0",
            KeyPrefix = "bad prefix",
            MaxItemBytes = 10,
            SigningKey = new byte[4],
            OperationTimeout = TimeSpan.Zero,
            ConnectTimeout = TimeSpan.FromHours(1),
            ProbeInterval = TimeSpan.FromMilliseconds(-1),
            PoolSize = 0,
            BreakerFailureThreshold = 0,
            MaxKeysPerBatch = 0,
        };

        var problems = Assert.Throws<CoherentConfigurationException>(options.ValidateOrThrow).Problems;

        string[] expected = ["'nohost'", "'10.0.0.1:99999'", "listed twice", "weight", "key prefix", "MaxItemBytes", "signing key",
            "OperationTimeout", "ConnectTimeout", "ProbeInterval", "PoolSize", "BreakerFailureThreshold", "MaxKeysPerBatch"];
        Assert.Equal(expected.Length, problems.Count);
        Assert.All(expected, e => Assert.Contains(problems, p => p.Contains(e, StringComparison.Ordinal)));
    }

    [Fact]
    public void Empty_servers_are_a_problem() =>
        Assert.Contains("Servers is empty", Assert.Throws<CoherentConfigurationException>(new CoherentMemcachedOptions().ValidateOrThrow).Message, StringComparison.Ordinal);

    [Fact]
    public void Servers_parse_with_weights_host_names_and_IPv6()
    {
        var problems = new List<string>();

        var servers = CoherentMemcachedOptions.ParseServers("cache-1.internal:11211=3, [::1]:11212,127.0.0.1:11213", problems);

        Assert.Empty(problems);
        Assert.Equal(["cache-1.internal:11211", "[::1]:11212", "127.0.0.1:11213"], servers.Select(s => s.ToString()));
        Assert.Equal([3, 1, 1], servers.Select(s => s.Weight));
    }
}
