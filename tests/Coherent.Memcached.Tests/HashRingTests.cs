using System.Text;
using Coherent.Memcached.Cluster;

namespace Coherent.Memcached.Tests;

public sealed class HashRingTests
{
    private static readonly byte[][] Keys = Enumerable.Range(0, 60_000).Select(i => Encoding.ASCII.GetBytes("price:" + i)).ToArray();

    [Fact]
    public void Keys_spread_roughly_evenly_over_equal_servers()
    {
        var ring = new HashRing<string>([("a", "10.0.0.1:11211", 1), ("b", "10.0.0.2:11211", 1), ("c", "10.0.0.3:11211", 1)]);

        var shares = Keys.GroupBy(k => ring.Owner(k)).ToDictionary(g => g.Key, g => g.Count() / (double)Keys.Length);

        Assert.Equal(3, shares.Count);
        Assert.All(shares.Values, share => Assert.InRange(share, 0.28, 0.39));
    }

    [Fact]
    public void A_server_of_weight_two_takes_about_twice_the_keys()
    {
        var ring = new HashRing<string>([("a", "10.0.0.1:11211", 2), ("b", "10.0.0.2:11211", 1)]);

        var heavy = Keys.Count(k => ring.Owner(k) == "a") / (double)Keys.Length;

        Assert.InRange(heavy, 0.6, 0.73);
    }

    [Fact]
    public void A_server_marked_down_gives_away_only_its_own_keys_spread_over_the_others()
    {
        var ring = new HashRing<string>([("a", "10.0.0.1:11211", 1), ("b", "10.0.0.2:11211", 1), ("c", "10.0.0.3:11211", 1), ("d", "10.0.0.4:11211", 1)]);

        var moved = Keys.Select(k => (Before: ring.Owner(k), After: ring.Locate(k, s => s == "b"))).ToArray();

        Assert.All(moved.Where(m => m.Before != "b"), m => Assert.Equal(m.Before, m.After));
        var heirs = moved.Where(m => m.Before == "b").GroupBy(m => m.After).ToDictionary(g => g.Key!, g => g.Count());
        Assert.Equal(["a", "c", "d"], heirs.Keys.Order());
        Assert.All(heirs.Values, n => Assert.True(n > moved.Count(m => m.Before == "b") / 6, $"{n} of b's keys"));
        Assert.Null(ring.Locate(Keys[0], _ => true));
    }

    [Fact]
    public void Two_clients_build_the_same_ring_whatever_the_order_of_servers()
    {
        var one = new HashRing<string>([("a", "10.0.0.1:11211", 1), ("b", "10.0.0.2:11211", 1)]);
        var two = new HashRing<string>([("b", "10.0.0.2:11211", 1), ("a", "10.0.0.1:11211", 1)]);

        Assert.All(Keys.Take(5000), k => Assert.Equal(one.Owner(k), two.Owner(k)));
    }
}
