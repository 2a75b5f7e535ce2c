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
/// The hash is a seeded multiply-xorshift over 8 bytes at a time (Marvin, the runtime's, takes 4), and buckets are a power
/// of two at a load of at most 1/2, so a hit rarely walks a chain.
/// <para>
/// Concurrency: writers hold the bucket's stripe lock and publish each link with a volatile store; a reader follows links
/// with volatile loads and sees the chain before or after a write, never a broken one (a removed entry keeps its link, so
/// a reader standing on it walks on). A resize relinks every entry into a new bucket array under all locks: a reader that
/// walked the old array meanwhile may miss its key, so a miss on a retired table is retried on the new one — a hit is never
/// wrong, and a miss is never reported because of a resize. An entry object is put into the map once.
/// </para>
/// <para>
/// Hash flooding: the seed is random per map, so colliding keys cannot be prepared offline; should a chain still reach
/// <see cref="MaxChain"/> on insert (at load 1/2 it does not by chance), the map is rebuilt on the runtime's randomized
/// string hash, as the runtime's own <c>Dictionary</c> does for its non-randomized comparer.
/// </para>
/// </remarks>
internal sealed class EntryMap
{
    /// <summary>A chain this long on insert switches the map to the randomized hash.</summary>
    internal const int MaxChain = 32;

    private readonly object[] _locks;
    private volatile Table _table;
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

        var buckets = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(initialCapacity * 2, lockCount, 1 << 20));
        _table = new Table(buckets, seed, randomized: false);
    }

    public int Count => Volatile.Read(ref _count);

    public bool IsEmpty => Count == 0;

    /// <summary>True once a flood of colliding keys switched the map to the randomized hash. For tests.</summary>
    internal bool IsRandomized => _table.Randomized;

    internal int BucketCount => _table.Buckets.Length;

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
        var table = _table;
        var hash = table.Hash(key);
        for (var e = Volatile.Read(ref table.Buckets[hash & (table.Buckets.Length - 1)]); e is not null; e = Volatile.Read(ref e.MapNext))
        {
            if (e.MapHash == hash)
            {
                // The same string instance (the caller's constant or interned key) is the common hit; comparing
                // characters is a call, kept out of line so the inlined lookup holds the entry in a register.
                return ReferenceEquals(e.Key, key) ? e : FindFrom(e, table, hash, key);
            }
        }

        return MissOrRetry(table, key);
    }

    /// <summary>The rest of <see cref="Find"/> from the first entry with the key's hash, comparing keys by their characters.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private CacheEntry? FindFrom(CacheEntry? e, Table table, int hash, string key)
    {
        for (; e is not null; e = Volatile.Read(ref e.MapNext))
        {
            if (e.MapHash == hash && IsKey(e.Key, key))
            {
                return e;
            }
        }

        return MissOrRetry(table, key);
    }

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    /// <summary>Stores <paramref name="entry"/> (never in a map before) under its key; returns the entry it replaced.</summary>
    public CacheEntry? AddOrReplace(CacheEntry entry)
    {
        while (true)
        {
            var table = _table;
            var hash = table.Hash(entry.Key);
            var bucket = hash & (table.Buckets.Length - 1);
            CacheEntry? previous = null;
            var chain = 0;
            lock (_locks[bucket & (_locks.Length - 1)])
            {
                if (!ReferenceEquals(table, _table))
                {
                    continue; // resized meanwhile: the bucket (and maybe the lock) is another one now
                }

                ref var link = ref table.Buckets[bucket];
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

                entry.MapHash = hash;
                if (previous is null)
                {
                    entry.MapNext = null;
                    Volatile.Write(ref link, entry); // link is the chain's last (null) link: append
                }
                else
                {
                    entry.MapNext = previous.MapNext;
                    Volatile.Write(ref link, entry); // link pointed at previous: entry takes its place
                }
            }

            if (previous is null)
            {
                var flooded = chain >= MaxChain && !table.Randomized;
                if (Interlocked.Increment(ref _count) > table.Buckets.Length / 2 || flooded)
                {
                    Rebuild(table, randomize: flooded);
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
            var table = _table;
            for (var i = 0; i < table.Buckets.Length; i++)
            {
                for (var e = Volatile.Read(ref table.Buckets[i]); e is not null; e = Volatile.Read(ref e.MapNext))
                {
                    result.Add(e);
                }
            }

            if (!table.Retired)
            {
                return result;
            }

            result.Clear(); // relinked under the walk: walk the new table
            WaitForSuccessor(table);
        }
    }

    private bool Remove(string key, CacheEntry? only, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry removed)
    {
        while (true)
        {
            var table = _table;
            var hash = table.Hash(key);
            var bucket = hash & (table.Buckets.Length - 1);
            lock (_locks[bucket & (_locks.Length - 1)])
            {
                if (!ReferenceEquals(table, _table))
                {
                    continue;
                }

                ref var link = ref table.Buckets[bucket];
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

    [MethodImpl(MethodImplOptions.NoInlining)]
    private CacheEntry? MissOrRetry(Table table, string key)
    {
        if (table.Retired)
        {
            WaitForSuccessor(table);
            return Find(key);
        }

        return null;
    }

    private void WaitForSuccessor(Table retired)
    {
        var spin = new SpinWait();
        while (ReferenceEquals(_table, retired))
        {
            spin.SpinOnce();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsKey(string stored, string key) => ReferenceEquals(stored, key) || string.Equals(stored, key, StringComparison.Ordinal);

    private void Rebuild(Table seen, bool randomize)
    {
        var taken = 0;
        try
        {
            for (; taken < _locks.Length; taken++)
            {
                Monitor.Enter(_locks[taken]);
            }

            if (!ReferenceEquals(seen, _table))
            {
                return; // another writer rebuilt first
            }

            var randomized = seen.Randomized || randomize;
            var next = new Table(randomize ? seen.Buckets.Length : seen.Buckets.Length * 2, seen.Seed, randomized);
            var mask = next.Buckets.Length - 1;

            // Readers still walking the old array can be led astray by the relinking below: they check this on a miss.
            seen.Retired = true;
            foreach (var head in seen.Buckets)
            {
                var e = head;
                while (e is not null)
                {
                    var following = e.MapNext;
                    var hash = next.Hash(e.Key);
                    e.MapHash = hash;
                    Volatile.Write(ref e.MapNext, next.Buckets[hash & mask]);
                    next.Buckets[hash & mask] = e;
                    e = following;
                }
            }

            _table = next;
        }
        finally
        {
            for (var i = 0; i < taken; i++)
            {
                Monitor.Exit(_locks[i]);
            }
        }
    }

    private sealed class Table(int size, ulong seed, bool randomized)
    {
        public readonly CacheEntry?[] Buckets = new CacheEntry?[size];
        public readonly ulong Seed = seed;
        public readonly bool Randomized = randomized;

        /// <summary>Set (before any relinking) when a rebuild replaces this table.</summary>
        public volatile bool Retired;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Hash(string key) => Randomized ? key.GetHashCode() & 0x7FFF_FFFF : FastHash(key, Seed);
    }

    /// <summary>
    /// A seeded multiply-xorshift hash over the key's UTF-16 bytes, 8 at a time (the last read overlaps the one before it, so
    /// no byte past the string is read). Not a cryptographic hash: the random seed keeps prepared collision lists useless,
    /// the chain limit handles the rest. Non-negative, so a bucket index is a mask away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int FastHash(string key, ulong seed)
    {
        ref var start = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(key.AsSpan()));
        var length = key.Length * 2;
        var h = seed ^ ((ulong)length * 0x9E3779B97F4A7C15UL);
        if (length >= 8)
        {
            for (var i = 0; i < length - 8; i += 8)
            {
                h = Mix(h ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i)));
            }

            h = Mix(h ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, length - 8)));
        }
        else if (length >= 4)
        {
            h = Mix(h ^ (Unsafe.ReadUnaligned<uint>(ref start) | ((ulong)Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, length - 4)) << 32)));
        }
        else if (length > 0)
        {
            h = Mix(h ^ Unsafe.ReadUnaligned<ushort>(ref start));
        }

        return (int)((h ^ (h >> 32)) & 0x7FFF_FFFF);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong x)
    {
        x *= 0xBF58476D1CE4E5B9UL;
        return x ^ (x >> 31);
    }
}
