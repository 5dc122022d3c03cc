using System.Runtime.CompilerServices;

// The tests reach the native test hooks (Native.ck_debug_throw) directly.
[assembly: InternalsVisibleTo("CanKit.Tests")]
