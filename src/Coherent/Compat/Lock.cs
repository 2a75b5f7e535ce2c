#if !NET9_0_OR_GREATER
// CS9216 warns of monitor locking on this type by mistake; here the monitor is the whole point.
#pragma warning disable CS9216

namespace System.Threading;

/// <summary>
/// The net8.0 stand-in for <c>System.Threading.Lock</c> (net9.0 and later), on the object's monitor, so that the
/// code's <c>lock (field)</c> statements compile unchanged for both targets while net10.0 keeps the real type. The
/// compiler lowers <c>lock</c> on a type of this name to <see cref="EnterScope"/> and <see cref="Scope.Dispose"/>.
/// Internal, and visible to Coherent.Redis through InternalsVisibleTo.
/// </summary>
internal sealed class Lock
{
    public Scope EnterScope()
    {
        Monitor.Enter(this);
        return new Scope(this);
    }

    public ref struct Scope
    {
        private readonly Lock _owner;

        internal Scope(Lock owner) => _owner = owner;

        public readonly void Dispose() => Monitor.Exit(_owner);
    }
}
#endif
