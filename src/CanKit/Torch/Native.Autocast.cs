using System.Runtime.InteropServices;

namespace CanKit;

internal static unsafe partial class Native
{
    [DllImport(Lib)] internal static extern int ck_autocast_enter(int deviceType, int dtype, out int prevEnabled, out int prevDtype);
    [DllImport(Lib)] internal static extern int ck_autocast_exit(int deviceType, int prevEnabled, int prevDtype);
}
