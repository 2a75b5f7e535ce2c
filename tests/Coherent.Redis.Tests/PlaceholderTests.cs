namespace Coherent.Redis.Tests;

public sealed class PlaceholderTests
{
    [Fact]
    public void Redis_tier_assembly_loads() => Assert.NotNull(typeof(RedisBuilderExtensions).Assembly);
}
