using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Coherent.Local;

/// <summary>
/// The L1's key → entry map: a hash table whose nodes are the entries themselves (<see cref="CacheEntry.MapNext"/>), read
/// without locks and written under striped locks. An L1 hit is one lookup here.
/// </summary>
/// <remarks>
/// Why not <c>ConcurrentDictionary</c>: its node sits between the bucket and the entry, so a hit loaded two objects from
/// memory (node, then entry) before it could judge the entry; here the bucket points at the entry. With 1,000 resident keys
/// neither fits the core's L1 data cache, and that second dependent load was most of the gap to a bare dictionary lookup.
/// The bucket array hangs directly off the map (map → buckets → entry), buckets are a power of two at a load of at most
/// 1/2 so a hit rarely walks a chain, and the hash is a seeded 64×64→128-bit multiply per 16 bytes (<see cref="FastHash(ReadOnlySpan{char}, ulong, ulong)"/>).
/// <para>
/// Concurrency: writers hold the bucket's stripe lock and publish each link with a volatile store; a reader follows links
/// with volatile loads and sees the chain before or after a write, never a broken one (a removed entry keeps its link, so
/// a reader standing on it walks on). A rebuild (resize, or the switch to the randomized hash) relinks every entry into a
/// new bucket array under all locks: a reader that walked the old array meanwhile may have been led into another chain,
/// or hashed with the other function, so a miss is retried whenever a rebuild ran or runs — a hit is never wrong (keys are
/// compared), and a miss is never reported because of a rebuild. An entry object is put into the map once.
/// </para>
/// <para>
/// Hash flooding: the seed is random per map and enters both operands of every multiply, so colliding keys cannot be
/// prepared offline; should a chain still reach <see cref="MaxChain"/> on insert (at load 1/2 it does not by chance), the
/// map is rebuilt on the runtime's randomized string hash (Marvin), as the runtime's own <c>Dictionary</c> does for its
/// non-randomized comparer.
/// </para>
/// </remarks>
internal sealed class EntryMap
{
    /// <summary>A chain this long on insert switches the map to the randomized hash.</summary>
    internal const int MaxChain = 32;

    private readonly object[] _locks;
    private readonly ulong _seed;
    private readonly ulong _seed2;
    private volatile CacheEntry?[] _buckets;

    /// <summary>Keys are hashed with Marvin (string.GetHashCode) instead of <see cref="FastHash(ReadOnlySpan{char}, ulong, ulong)"/>: set by a flood.</summary>
    private volatile bool _randomized;

    /// <summary>Non-zero while a rebuild relinks entries: a reader's miss in that window is retried after it.</summary>
    private volatile int _rebuilding;

    private int _count;

    public EntryMap(int initialCapacity)
        : this(initialCapacity, (ulong)Random.Shared.NextInt64())
    {
    }

    /// <summary>With a chosen hash seed (tests build colliding keys with it).</summary>
    internal EntryMap(int initialCapacity, ulong seed)
    {
        var lockCount = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount * 4, 16, 256));
        _locks = new object[lockCount];
        for (var i = 0; i < _locks.Length; i++)
        {
            _locks[i] = new object();
        }

        _seed = seed;
        _seed2 = Mum(seed ^ 0xE7037ED1A0B428DBUL, 0x8EBC6AF09C88C6E3UL);
        _buckets = new CacheEntry?[(int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(initialCapacity * 2, lockCount, 1 << 20))];
    }

    public int Count => Volatile.Read(ref _count);

    public bool IsEmpty => Count == 0;

    /// <summary>True once a flood of colliding keys switched the map to the randomized hash. For tests.</summary>
    internal bool IsRandomized => _randomized;

    internal int BucketCount => _buckets.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry entry)
    {
        entry = Find(key);
        return entry is not null;
    }

    /// <summary>The entry under <paramref name="key"/>, or null. (The hit path's form: no out-parameter, so the entry stays in a register.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public CacheEntry? Find(string key)
    {
        var buckets = _buckets;
        var hash = Hash(key);
        for (var e = Volatile.Read(ref buckets[hash & (buckets.Length - 1)]); e is not null; e = Volatile.Read(ref e.MapNext))
        {
            if (e.MapHash == hash)
            {
                // The same string instance (the caller's constant or interned key) is the common hit; comparing
                // characters is a call, kept out of line so the inlined lookup holds the entry in a register.
                return ReferenceEquals(e.Key, key) ? e : FindFrom(e, buckets, hash, key);
            }
        }

        return MissOrRetry(buckets, key);
    }

    /// <summary>
    /// The entry under the key spelled by <paramref name="key"/>, or null, without making a string of it (HybridCache 11.0's
    /// span and interpolated keys). The same hash as a string's, so either finds what the other stored.
    /// </summary>
    public CacheEntry? Find(ReadOnlySpan<char> key)
    {
        while (true)
        {
            var buckets = _buckets;
            var hash = Hash(key);
            for (var e = Volatile.Read(ref buckets[hash & (buckets.Length - 1)]); e is not null; e = Volatile.Read(ref e.MapNext))
            {
                if (e.MapHash == hash && key.SequenceEqual(e.Key))
                {
                    return e;
                }
            }

            if (_rebuilding == 0 && ReferenceEquals(buckets, _buckets))
            {
                return null;
            }

            WaitForRebuild();
        }
    }

    public bool ContainsKey(string key) => Find(key) is not null;

    /// <summary>Stores <paramref name="entry"/> (never in a map before) under its key; returns the entry it replaced.</summary>
    public CacheEntry? AddOrReplace(CacheEntry entry)
    {
        while (true)
        {
            var buckets = _buckets;
            var hash = Hash(entry.Key);
            var bucket = hash & (buckets.Length - 1);
            CacheEntry? previous = null;
            var chain = 0;
            lock (_locks[bucket & (_locks.Length - 1)])
            {
                if (!ReferenceEquals(buckets, _buckets))
                {
                    continue; // rebuilt meanwhile: the bucket (and maybe the lock, or the hash) is another one now
                }

                ref var link = ref buckets[bucket];
                for (var e = link; e is not null; e = e.MapNext)
                {
                    chain++;
                    if (e.MapHash == hash && IsKey(e.Key, entry.Key))
                    {
                        previous = e;
                        break;
                    }

                    link = ref e.MapNext;
                }

                // link is the chain's last (null) link, or the one pointing at previous, which entry replaces.
                entry.MapHash = hash;
                entry.MapNext = previous?.MapNext;
                Volatile.Write(ref link, entry);
            }

            if (previous is null)
            {
                var flooded = chain >= MaxChain && !_randomized;
                if (Interlocked.Increment(ref _count) > buckets.Length / 2 || flooded)
                {
                    Rebuild(buckets, randomize: flooded);
                }
            }

            return previous;
        }
    }

    public bool TryRemove(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry removed) => Remove(key, null, out removed);

    /// <summary>Removes the key only while it still maps to <paramref name="entry"/> (a newer value stays).</summary>
    public bool TryRemove(CacheEntry entry) => Remove(entry.Key, entry, out _);

    /// <summary>Every entry at some moment during the call (entries written or removed meanwhile may or may not be in it).</summary>
    public List<CacheEntry> Entries()
    {
        var result = new List<CacheEntry>(Count);
        while (true)
        {
            var buckets = _buckets;
            for (var i = 0; i < buckets.Length; i++)
            {
                for (var e = Volatile.Read(ref buckets[i]); e is not null; e = Volatile.Read(ref e.MapNext))
                {
                    result.Add(e);
                }
            }

            if (_rebuilding == 0 && ReferenceEquals(buckets, _buckets))
            {
                return result;
            }

            result.Clear(); // relinked under the walk: walk the new array
            WaitForRebuild();
        }
    }

    private bool Remove(string key, CacheEntry? only, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry removed)
    {
        while (true)
        {
            var buckets = _buckets;
            var hash = Hash(key);
            var bucket = hash & (buckets.Length - 1);
            lock (_locks[bucket & (_locks.Length - 1)])
            {
                if (!ReferenceEquals(buckets, _buckets))
                {
                    continue;
                }

                ref var link = ref buckets[bucket];
                for (var e = link; e is not null; e = e.MapNext)
                {
                    if (e.MapHash == hash && IsKey(e.Key, key))
                    {
                        if (only is not null && !ReferenceEquals(e, only))
                        {
                            break;
                        }

                        // e keeps its own link, so a reader standing on it walks on to the rest of the chain.
                        Volatile.Write(ref link, e.MapNext);
                        Interlocked.Decrement(ref _count);
                        removed = e;
                        return true;
                    }

                    link = ref e.MapNext;
                }
            }

            removed = null;
            return false;
        }
    }

    /// <summary>The hash this map gives <paramref name="key"/> now (what <see cref="CacheEntry.MapHash"/> holds for a stored key).</summary>
    public int HashOf(string key) => Hash(key);

    /// <summary>
    /// Fills <paramref name="into"/> with entries found by walking the buckets from <paramref name="start"/> (wrapping), and
    /// returns how many: fewer than its length only when the map holds fewer. Lock-free like a lookup, so under concurrent
    /// writes (or a rebuild) an entry may be sampled twice or after its removal; callers remove what they pick by identity.
    /// </summary>
    public int Sample(CacheEntry[] into, uint start)
    {
        var buckets = _buckets;
        var mask = buckets.Length - 1;
        var found = 0;
        for (var i = 0; i < buckets.Length && found < into.Length; i++)
        {
            for (var e = Volatile.Read(ref buckets[(int)((start + (uint)i) & (uint)mask)]); e is not null && found < into.Length; e = Volatile.Read(ref e.MapNext))
            {
                into[found++] = e;
            }
        }

        return found;
    }

    /// <summary>The rest of <see cref="Find(string)"/> from the first entry with the key's hash, comparing keys by their characters.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private CacheEntry? FindFrom(CacheEntry? e, CacheEntry?[] buckets, int hash, string key)
    {
        for (; e is not null; e = Volatile.Read(ref e.MapNext))
        {
            if (e.MapHash == hash && IsKey(e.Key, key))
            {
                return e;
            }
        }

        return MissOrRetry(buckets, key);
    }

    /// <summary>A miss stands only if no rebuild ran since the walk began (same array) and none runs now.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private CacheEntry? MissOrRetry(CacheEntry?[] walked, string key)
    {
        if (_rebuilding == 0 && ReferenceEquals(walked, _buckets))
        {
            return null;
        }

        WaitForRebuild();
        return Find(key);
    }

    private void WaitForRebuild()
    {
        var spin = new SpinWait();
        while (_rebuilding != 0)
        {
            spin.SpinOnce();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Hash(string key) => _randomized ? key.GetHashCode() & 0x7FFF_FFFF : FastHash(key, _seed, _seed2);

    /// <summary>The same value as <see cref="Hash(string)"/> for the same characters (string.GetHashCode of a span equals the string's).</summary>
    private int Hash(ReadOnlySpan<char> key) => _randomized ? string.GetHashCode(key) & 0x7FFF_FFFF : FastHash(key, _seed, _seed2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsKey(string stored, string key) => ReferenceEquals(stored, key) || string.Equals(stored, key, StringComparison.Ordinal);

    private void Rebuild(CacheEntry?[] seen, bool randomize)
    {
        var taken = 0;
        try
        {
            for (; taken < _locks.Length; taken++)
            {
                Monitor.Enter(_locks[taken]);
            }

            if (!ReferenceEquals(seen, _buckets))
            {
                return; // another writer rebuilt first
            }

            // Readers still walking the old array can be led astray by the relinking below (or hash the new way on it): they
            // check this on a miss.
            _rebuilding = 1;
            _randomized = _randomized || randomize;
            var next = new CacheEntry?[randomize ? seen.Length : seen.Length * 2];
            var mask = next.Length - 1;
            foreach (var head in seen)
            {
                var e = head;
                while (e is not null)
                {
                    var following = e.MapNext;
                    var hash = Hash(e.Key);
                    e.MapHash = hash;
                    Volatile.Write(ref e.MapNext, next[hash & mask]);
                    next[hash & mask] = e;
                    e = following;
                }
            }

            _buckets = next;
            _rebuilding = 0;
        }
        finally
        {
            for (var i = 0; i < taken; i++)
            {
                Monitor.Exit(_locks[i]);
            }
        }
    }

    /// <summary>
    /// A seeded hash of the key's UTF-16 bytes: 16 bytes per 64×64→128-bit multiply, both operands mixed with the seed (so no
    /// input can zero one of them without knowing it), the last block read overlapping the one before it (no byte past the
    /// string is read). Not a cryptographic hash; the chain limit handles what the seed does not. Non-negative.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int FastHash(string key, ulong seed, ulong seed2) => FastHash(key.AsSpan(), seed, seed2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int FastHash(ReadOnlySpan<char> key, ulong seed, ulong seed2)
    {
        ref var p = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(key));
        var length = key.Length * 2;
        var state = seed2 ^ (ulong)length;
        ulong a, b;
        if (length <= 16)
        {
            if (length >= 8)
            {
                a = Unsafe.ReadUnaligned<ulong>(ref p);
                b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, length - 8));
            }
            else if (length >= 4)
            {
                a = Unsafe.ReadUnaligned<uint>(ref p);
                b = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, length - 4));
            }
            else
            {
                a = length > 0 ? Unsafe.ReadUnaligned<ushort>(ref p) : 0UL;
                b = 0;
            }
        }
        else
        {
            for (var i = 0; i < length - 16; i += 16)
            {
                state = Mum(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)) ^ seed, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 8)) ^ state);
            }

            a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, length - 16));
            b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, length - 8));
        }

        var h = Mum(a ^ seed, b ^ state);
        return (int)((h ^ (h >> 32)) & 0x7FFF_FFFF);
    }

    /// <summary>For tests: the hash this map's fast mode gives <paramref name="key"/>.</summary>
    internal int FastHashOf(string key) => FastHash(key, _seed, _seed2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mum(ulong x, ulong y)
    {
        var high = Math.BigMul(x, y, out var low);
        return high ^ low;
    }
}
