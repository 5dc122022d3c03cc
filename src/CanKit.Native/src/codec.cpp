// Image codecs: JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng's simplified API) between memory buffers
// and uint8 tensors [C, H, W] (C = 1 grayscale or 3 RGB; alpha is dropped), plus the resize used by image folders.
// Each codec is compiled in only when CMake found its library (CK_HAVE_TURBOJPEG, CK_HAVE_PNG); without it the
// exports report an error naming the package to install. Encoded bytes travel as uint8 tensors [nbytes], so the
// managed side frees them like any other tensor.
#include "common.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#ifdef CK_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif
#ifdef CK_HAVE_PNG
#include <png.h>
#endif

namespace {

bool is_jpeg(const uint8_t* d, int64_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }
bool is_png(const uint8_t* d, int64_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(d, sig, 8) == 0;
}

// [H, W, K] interleaved pixels (K = 1..4) → [C, H, W] with C = 1 or 3 (channels beyond C dropped).
at::Tensor hwk_to_chw(const at::Tensor& hwk, int64_t c) {
  return hwk.narrow(2, 0, c).permute({2, 0, 1}).contiguous();  // [C, H, W]
}

// A uint8 [C, H, W] CPU tensor with C = 1 or 3, as interleaved [H, W, C] bytes.
at::Tensor chw_to_hwc(const at::Tensor& chw, const char* what) {
  if (chw.dim() != 3) throw std::invalid_argument(std::string(what) + ": expected a [C, H, W] tensor, got " + std::to_string(chw.dim()) + " dims");
  if (chw.scalar_type() != at::kByte) throw std::invalid_argument(std::string(what) + ": expected uint8 pixels");
  int64_t c = chw.size(0);
  if (c != 1 && c != 3) throw std::invalid_argument(std::string(what) + ": expected 1 or 3 channels, got " + std::to_string(c));
  if (chw.size(1) <= 0 || chw.size(2) <= 0) throw std::invalid_argument(std::string(what) + ": empty image");
  return chw.to(at::kCPU).permute({1, 2, 0}).contiguous();  // [H, W, C]
}

#ifdef CK_HAVE_TURBOJPEG
struct TjHandle {
  tjhandle h;
  explicit TjHandle(tjhandle x) : h(x) {
    if (!h) throw std::runtime_error(std::string("TurboJPEG: ") + tjGetErrorStr2(nullptr));
  }
  ~TjHandle() { tjDestroy(h); }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
};

at::Tensor decode_jpeg(const uint8_t* data, int64_t n) {
  TjHandle tj(tjInitDecompress());
  int w = 0, h = 0, subsamp = 0, cs = 0;
  auto* src = const_cast<unsigned char*>(data);
  if (tjDecompressHeader3(tj.h, src, static_cast<unsigned long>(n), &w, &h, &subsamp, &cs) != 0)
    throw std::runtime_error(std::string("corrupt JPEG header: ") + tjGetErrorStr2(tj.h));
  if (w <= 0 || h <= 0) throw std::runtime_error("corrupt JPEG: empty image");
  bool gray = cs == TJCS_GRAY, cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
  int pf = gray ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB;
  int64_t k = tjPixelSize[pf];
  at::Tensor hwk = at::empty({h, w, k}, at::kByte);  // [H, W, K]
  if (tjDecompress2(tj.h, src, static_cast<unsigned long>(n), hwk.data_ptr<uint8_t>(), w, 0, h, pf, 0) != 0) {
    std::string msg = tjGetErrorStr2(tj.h);
    // Warnings ("extraneous bytes before marker") leave a usable image, as in PIL; a truncated file does not.
    if (tjGetErrorCode(tj.h) != TJERR_WARNING || msg.find("Premature end") != std::string::npos)
      throw std::runtime_error("corrupt JPEG data: " + msg);
  }
  if (cmyk) {
    // CMYK/YCCK JPEGs (a few in ImageNet) are written by Adobe software with inverted ink values, so
    // R = C·K/255, G = M·K/255, B = Y·K/255 on the stored bytes.
    at::Tensor f = hwk.to(at::kFloat);
    at::Tensor rgb = f.narrow(2, 0, 3) * f.narrow(2, 3, 1) / 255.0;
    hwk = rgb.round_().clamp_(0, 255).to(at::kByte);
  }
  return hwk_to_chw(hwk, gray ? 1 : 3);
}

at::Tensor encode_jpeg(const at::Tensor& chw, int quality) {
  if (quality < 1 || quality > 100) throw std::invalid_argument("JPEG quality must be in 1..100");
  at::Tensor hwc = chw_to_hwc(chw, "JPEG encode");
  int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  bool gray = hwc.size(2) == 1;
  TjHandle tj(tjInitCompress());
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj.h, hwc.data_ptr<uint8_t>(), w, 0, h, gray ? TJPF_GRAY : TJPF_RGB, &buf, &size,
                  gray ? TJSAMP_GRAY : TJSAMP_444, quality, 0) != 0) {
    if (buf) tjFree(buf);
    throw std::runtime_error(std::string("JPEG encode failed: ") + tjGetErrorStr2(tj.h));
  }
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(buf, tjFree);
  at::Tensor out = at::empty({static_cast<int64_t>(size)}, at::kByte);
  std::memcpy(out.data_ptr<uint8_t>(), buf, size);
  return out;
}
#endif

#ifdef CK_HAVE_PNG
struct PngImage {
  png_image img;
  PngImage() {
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
  }
  ~PngImage() { png_image_free(&img); }
};

at::Tensor decode_png(const uint8_t* data, int64_t n) {
  PngImage p;
  if (!png_image_begin_read_from_memory(&p.img, data, static_cast<size_t>(n)))
    throw std::runtime_error(std::string("corrupt PNG header: ") + p.img.message);
  bool colour = (p.img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  // Read with alpha and drop it afterwards: without an alpha slot libpng would composite onto black.
  p.img.format = colour ? PNG_FORMAT_RGBA : PNG_FORMAT_GA;
  int64_t h = p.img.height, w = p.img.width, k = colour ? 4 : 2;
  at::Tensor hwk = at::empty({h, w, k}, at::kByte);  // [H, W, K]
  if (!png_image_finish_read(&p.img, nullptr, hwk.data_ptr<uint8_t>(), 0, nullptr))
    throw std::runtime_error(std::string("corrupt PNG data: ") + p.img.message);
  return hwk_to_chw(hwk, colour ? 3 : 1);
}

at::Tensor encode_png(const at::Tensor& chw) {
  at::Tensor hwc = chw_to_hwc(chw, "PNG encode");
  PngImage p;
  p.img.width = static_cast<png_uint_32>(hwc.size(1));
  p.img.height = static_cast<png_uint_32>(hwc.size(0));
  p.img.format = hwc.size(2) == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&p.img, nullptr, &size, 0, hwc.data_ptr<uint8_t>(), 0, nullptr))
    throw std::runtime_error(std::string("PNG encode failed: ") + p.img.message);
  at::Tensor out = at::empty({static_cast<int64_t>(size)}, at::kByte);
  if (!png_image_write_to_memory(&p.img, out.data_ptr<uint8_t>(), &size, 0, hwc.data_ptr<uint8_t>(), 0, nullptr))
    throw std::runtime_error(std::string("PNG encode failed: ") + p.img.message);
  return out.narrow(0, 0, static_cast<int64_t>(size)).clone();
}
#endif

at::Tensor decode(const uint8_t* data, int64_t n) {
  if (data == nullptr || n <= 0) throw std::invalid_argument("empty image data");
  if (is_jpeg(data, n)) {
#ifdef CK_HAVE_TURBOJPEG
    return decode_jpeg(data, n);
#else
    throw std::runtime_error("JPEG support was not built: install libturbojpeg0-dev (tools/install-deps.sh) and rebuild");
#endif
  }
  if (is_png(data, n)) {
#ifdef CK_HAVE_PNG
    return decode_png(data, n);
#else
    throw std::runtime_error("PNG support was not built: install libpng-dev (tools/install-deps.sh) and rebuild");
#endif
  }
  throw std::runtime_error("not a JPEG or PNG file (unrecognised signature)");
}

// uint8 [C, H, W] → shorter side to `side` (bilinear, antialiased when shrinking, as PIL and torchvision do),
// then the centred side×side crop → uint8 [C, side, side].
at::Tensor resize_center_crop(const at::Tensor& chw, int64_t side) {
  if (chw.dim() != 3) throw std::invalid_argument("resize: expected a [C, H, W] tensor");
  if (side <= 0) throw std::invalid_argument("resize: side must be > 0");
  int64_t h = chw.size(1), w = chw.size(2);
  if (h <= 0 || w <= 0) throw std::invalid_argument("resize: empty image");
  int64_t nh, nw;
  if (h <= w) {
    nh = side;
    nw = std::max<int64_t>(side, static_cast<int64_t>(static_cast<double>(w) * side / h + 0.5));
  } else {
    nw = side;
    nh = std::max<int64_t>(side, static_cast<int64_t>(static_cast<double>(h) * side / w + 0.5));
  }
  at::Tensor resized;
  if (nh == h && nw == w) {
    resized = chw;
  } else {
    at::Tensor x = chw.unsqueeze(0).to(at::kFloat);  // [1, C, H, W]
    std::array<int64_t, 2> size{nh, nw};
    at::Tensor y = (nh < h || nw < w) ? at::_upsample_bilinear2d_aa(x, at::IntArrayRef(size), false)
                                      : at::upsample_bilinear2d(x, at::IntArrayRef(size), false);
    resized = y.squeeze(0).round_().clamp_(0, 255).to(at::kByte);  // [C, nh, nw]
  }
  int64_t top = (nh - side) / 2, left = (nw - side) / 2;
  return resized.narrow(1, top, side).narrow(2, left, side).contiguous();  // [C, side, side]
}

}  // namespace

// Bit 0: JPEG, bit 1: PNG.
CK_EXPORT int ck_codec_features() {
  int f = 0;
#ifdef CK_HAVE_TURBOJPEG
  f |= 1;
#endif
#ifdef CK_HAVE_PNG
  f |= 2;
#endif
  return f;
}

// JPEG or PNG bytes (told apart by their signature) → uint8 [C, H, W].
CK_EXPORT ck_tensor ck_image_decode(const uint8_t* data, int64_t nbytes) { CK_TENSOR(decode(data, nbytes)) }

// uint8 [C, H, W], C = 1 or 3 → PNG bytes as uint8 [nbytes].
CK_EXPORT ck_tensor ck_png_encode(ck_tensor chw) {
#ifdef CK_HAVE_PNG
  CK_TENSOR(encode_png(*chw))
#else
  ck::set_error("PNG support was not built: install libpng-dev (tools/install-deps.sh) and rebuild");
  return nullptr;
#endif
}

// uint8 [C, H, W], C = 1 or 3 → baseline JPEG bytes (4:4:4, or grayscale) as uint8 [nbytes].
CK_EXPORT ck_tensor ck_jpeg_encode(ck_tensor chw, int quality) {
#ifdef CK_HAVE_TURBOJPEG
  CK_TENSOR(encode_jpeg(*chw, quality))
#else
  ck::set_error("JPEG support was not built: install libturbojpeg0-dev (tools/install-deps.sh) and rebuild");
  return nullptr;
#endif
}

CK_EXPORT ck_tensor ck_resize_center_crop(ck_tensor chw, int64_t side) { CK_TENSOR(resize_center_crop(*chw, side)) }
