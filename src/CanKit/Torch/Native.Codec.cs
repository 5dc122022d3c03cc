using System.Runtime.InteropServices;

namespace CanKit;

// Image codecs and resizing (codec.cpp). Encoded bytes come back as uint8 tensors [nbytes].
internal static unsafe partial class Native
{
    [DllImport(Lib)] internal static extern int ck_codec_features();
    [DllImport(Lib)] internal static extern TensorHandle ck_image_decode(byte* data, long nbytes);
    [DllImport(Lib)] internal static extern TensorHandle ck_png_encode(TensorHandle chw);
    [DllImport(Lib)] internal static extern TensorHandle ck_jpeg_encode(TensorHandle chw, int quality);
    [DllImport(Lib)] internal static extern TensorHandle ck_resize_center_crop(TensorHandle chw, long side);
}
