// CPU kernel of kgs_conv3d (see ../kgs_conv3d.cpp for the contract).
//
// Output positions (t, h, w of one clip) are cut into tiles, tiles of all clips in parallel.
// Per tile:
//   1. gather: the im2col rows (one per input channel and kernel position j = n·K + p) of the
//      columns some block keeps, copied in runs along output rows. Each row is gathered once
//      and shared by every block that keeps it: for KGS, by the g_M filters of a group and by
//      all groups that keep that position;
//   2. per row block, per sub-tile of 3 vectors of positions, per 8 (AVX-512) or 4 filters: a
//      register-held accumulator walks the block's kept columns (one broadcast weight per
//      filter and three loads per column), a dense GEMM of g_M x |kept columns| without a copy
//      of the gathered rows. Blocks without columns write the bias; nothing is skipped that is
//      kept, nothing computed that is not.
// The loops run as AVX-512 or AVX2+FMA code where the CPU has it, portable code elsewhere.
#include "kgs_conv3d.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "scratch_buffer.h"

namespace mmeff {
namespace {

// GCC vector of `Bytes` bytes: 32 (AVX2 and portable code), 64 (AVX-512).
template <typename T, int Bytes>
struct Vector {
  typedef T type __attribute__((vector_size(Bytes)));
};

// A kernel variant: the vector size and the filters of one register-held accumulator.
template <typename T, int Bytes, int Rows>
struct Variant {
  typedef typename Vector<T, Bytes>::type V;
  static constexpr int kRows = Rows;
  static constexpr int64_t kWidth = 3 * static_cast<int64_t>(Bytes / sizeof(T));  // sub-tile
};

constexpr int kVectorsPerSubtile = 3;
constexpr int64_t kTileBytes = 512 * 1024;  // gathered rows of one tile, at most
constexpr int64_t kMaxSubtiles = 8;

// Tile widths are multiples of the widest sub-tile (AVX-512's), so every variant fits.
template <typename T>
constexpr int64_t subtile_width() {
  return kVectorsPerSubtile * static_cast<int64_t>(64 / sizeof(T));
}

template <typename T>
struct TileArgs {
  const T* x;
  const T* values;
  const int64_t* block_ptr;
  const int64_t* columns;
  const T* bias;
  T* out;
  const int64_t* used_rows;  // the columns some block keeps, sorted
  int64_t used_count;
  int64_t tile_width;  // positions per tile (a multiple of subtile_width), the gathered row stride
  KgsConv3dGeometry g;
};

// R filters x one sub-tile: out[r][l] = bias[r] + sum_c w[c][r] * col[columns[c]][l].
template <typename T, typename V, int R>
__attribute__((always_inline)) inline void block_rows(const T* w, int64_t w_stride,
                                                      const int64_t* columns, int64_t n_columns,
                                                      const T* col, int64_t col_stride,
                                                      const T* bias, T* out, int64_t out_stride,
                                                      int64_t count) {
  V acc[R][kVectorsPerSubtile];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const T b = bias ? bias[r] : T(0);
    for (int v = 0; v < kVectorsPerSubtile; ++v) acc[r][v] = V{} + b;
  }
  for (int64_t c = 0; c < n_columns; ++c) {
    const V* src = reinterpret_cast<const V*>(col + columns[c] * col_stride);
    const V x0 = src[0], x1 = src[1], x2 = src[2];
    const T* wc = w + c * w_stride;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const T s = wc[r];
      acc[r][0] += s * x0;
      acc[r][1] += s * x1;
      acc[r][2] += s * x2;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    std::memcpy(out + r * out_stride, &acc[r][0], static_cast<size_t>(count) * sizeof(T));
  }
}

// block_rows with R = rows (1 <= rows <= Max).
template <typename T, typename V, int Max>
__attribute__((always_inline)) inline void block_rows_upto(
    int64_t rows, const T* w, int64_t w_stride, const int64_t* columns, int64_t n_columns,
    const T* col, int64_t col_stride, const T* bias, T* out, int64_t out_stride, int64_t count) {
  if (rows == Max) {
    block_rows<T, V, Max>(w, w_stride, columns, n_columns, col, col_stride, bias, out, out_stride,
                          count);
  } else if constexpr (Max > 1) {
    block_rows_upto<T, V, Max - 1>(rows, w, w_stride, columns, n_columns, col, col_stride, bias,
                                   out, out_stride, count);
  }
}

// Writes positions [l, l + length) of one gathered row into its panels (panel s holds the
// row's positions [s·width, (s + 1)·width) at row0 + s·panel): src[i·step] for position l + i,
// or zeros when src is null.
template <typename T>
__attribute__((always_inline)) inline void panel_run(T* row0, int64_t panel, int64_t width,
                                                     int64_t l, int64_t length, const T* src,
                                                     int64_t step) {
  while (length > 0) {
    const int64_t offset = l % width, piece = std::min(length, width - offset);
    T* dst = row0 + (l / width) * panel + offset;
    if (src == nullptr) {
      std::fill(dst, dst + piece, T(0));
    } else if (step == 1) {
      std::copy(src, src + piece, dst);
      src += piece;
    } else {
      for (int64_t i = 0; i < piece; ++i) dst[i] = src[i * step];
      src += piece * step;
    }
    l += piece;
    length -= piece;
  }
}

// Step 1: the used im2col rows of the positions [l0, l0 + count), zero past count, stored per
// sub-tile: panel s holds row j's positions of sub-tile s at col[(s · N·K + j) · width], so a
// block's walk over its sorted columns reads its panel forwards. The tile is cut into segments
// along output rows (fixed t, h; consecutive w): per segment and kernel position, one bounds
// test for t and h and one valid range of w, copied in one run.
template <int64_t Width, typename T>
__attribute__((always_inline)) inline void gather_rows(const TileArgs<T>& k, int64_t clip,
                                                       int64_t l0, int64_t count, T* col,
                                                       int64_t* segments) {
  const KgsConv3dGeometry& g = k.g;
  int64_t n_segments = 0;
  for (int64_t l = 0; l < count;) {  // segment: first l, t0, h0, w0 of its first position, length
    const int64_t pos = l0 + l, ow = pos % g.out_w, oh = (pos / g.out_w) % g.out_h,
                  ot = pos / (g.out_w * g.out_h);
    const int64_t length = std::min(count - l, g.out_w - ow);
    int64_t* seg = segments + 5 * n_segments++;
    seg[0] = l;
    seg[1] = ot * g.stride[0] - g.padding[0];
    seg[2] = oh * g.stride[1] - g.padding[1];
    seg[3] = ow * g.stride[2] - g.padding[2];
    seg[4] = length;
    l += length;
  }
  const int64_t taps = g.taps(), khw = g.kernel[1] * g.kernel[2], sw = g.stride[2];
  const int64_t panel = g.in_c * taps * Width;
  for (int64_t u = 0; u < k.used_count; ++u) {
    const int64_t j = k.used_rows[u], n = j / taps, p = j % taps;
    const int64_t dt = (p / khw) * g.dilation[0];
    const int64_t dh = (p / g.kernel[2] % g.kernel[1]) * g.dilation[1];
    const int64_t dw = (p % g.kernel[2]) * g.dilation[2];
    const T* plane = k.x + (clip * g.in_c + n) * g.in_plane();
    T* row0 = col + j * Width;
    for (int64_t s = 0; s < n_segments; ++s) {
      const int64_t* seg = segments + 5 * s;
      const int64_t l = seg[0], t = seg[1] + dt, h = seg[2] + dh, w0 = seg[3] + dw;
      const int64_t length = seg[4];
      if (t < 0 || t >= g.in_t || h < 0 || h >= g.in_h) {
        panel_run<T>(row0, panel, Width, l, length, nullptr, 0);
        continue;
      }
      // positions i of the segment with 0 <= w0 + i * sw < in_w
      const int64_t first = std::min(length, w0 >= 0 ? 0 : (-w0 + sw - 1) / sw);
      const int64_t last =
          std::clamp<int64_t>(g.in_w - w0 > 0 ? (g.in_w - w0 + sw - 1) / sw : 0, first, length);
      const T* src = plane + (t * g.in_h + h) * g.in_w + w0;
      panel_run<T>(row0, panel, Width, l, first, nullptr, 0);
      panel_run<T>(row0, panel, Width, l + first, last - first, src + first * sw, sw);
      panel_run<T>(row0, panel, Width, l + last, length - last, nullptr, 0);
    }
    panel_run<T>(row0, panel, Width, count, k.tile_width - count, nullptr, 0);
  }
}

// Step 2: every row block over the gathered rows of one tile, with variant K's vectors and
// accumulators of K::kRows filters.
template <typename T, typename K>
__attribute__((always_inline)) inline void tile_impl(const TileArgs<T>& k, int64_t clip, int64_t l0,
                                                     int64_t count, T* col, int64_t* segments) {
  gather_rows<K::kWidth>(k, clip, l0, count, col, segments);
  const KgsConv3dGeometry& g = k.g;
  const int64_t sw = K::kWidth, plane = g.out_plane(), panel = g.in_c * g.taps() * sw;
  for (int64_t a = 0; a < g.blocks; ++a) {
    const int64_t first = k.block_ptr[a], n_columns = k.block_ptr[a + 1] - first;
    const int64_t rows = std::min(g.group_rows, g.out_c - a * g.group_rows);
    const T* w = k.values + first * g.group_rows;
    for (int64_t s = 0; s * sw < count; ++s) {
      const int64_t n = std::min(sw, count - s * sw);
      for (int64_t r0 = 0; r0 < rows; r0 += K::kRows) {
        const int64_t m = a * g.group_rows + r0;
        block_rows_upto<T, typename K::V, K::kRows>(
            std::min<int64_t>(K::kRows, rows - r0), w + r0, g.group_rows, k.columns + first,
            n_columns, col + s * panel, sw, k.bias ? k.bias + m : nullptr,
            k.out + (clip * g.out_c + m) * plane + l0 + s * sw, plane, n);
      }
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MMEFF_KGS_X86 1
// AVX-512: 64-byte vectors, 8 filters x 3 vectors = 24 of the 32 vector registers.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile_avx512(const TileArgs<float>& k,
                                                                      int64_t clip, int64_t l0,
                                                                      int64_t count, float* col,
                                                                      int64_t* segments) {
  tile_impl<float, Variant<float, 64, 8>>(k, clip, l0, count, col, segments);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile_avx512(const TileArgs<double>& k,
                                                                      int64_t clip, int64_t l0,
                                                                      int64_t count, double* col,
                                                                      int64_t* segments) {
  tile_impl<double, Variant<double, 64, 8>>(k, clip, l0, count, col, segments);
}
// AVX2: 32-byte vectors, 4 filters x 3 vectors = 12 of the 16 vector registers.
__attribute__((target("avx2,fma"))) void tile_avx2(const TileArgs<float>& k, int64_t clip,
                                                   int64_t l0, int64_t count, float* col,
                                                   int64_t* segments) {
  tile_impl<float, Variant<float, 32, 4>>(k, clip, l0, count, col, segments);
}
__attribute__((target("avx2,fma"))) void tile_avx2(const TileArgs<double>& k, int64_t clip,
                                                   int64_t l0, int64_t count, double* col,
                                                   int64_t* segments) {
  tile_impl<double, Variant<double, 32, 4>>(k, clip, l0, count, col, segments);
}
#endif

template <typename T>
void tile_portable(const TileArgs<T>& k, int64_t clip, int64_t l0, int64_t count, T* col,
                   int64_t* segments) {
  tile_impl<T, Variant<T, 32, 4>>(k, clip, l0, count, col, segments);
}

template <typename T>
void run_tile(const TileArgs<T>& k, int64_t clip, int64_t l0, int64_t count, T* col,
              int64_t* segments) {
#ifdef MMEFF_KGS_X86
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const bool avx512 =
      avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  if (avx512) return tile_avx512(k, clip, l0, count, col, segments);
  if (avx2) return tile_avx2(k, clip, l0, count, col, segments);
#endif
  tile_portable(k, clip, l0, count, col, segments);
}

// The sorted distinct columns of all blocks: the im2col rows a tile gathers.
std::vector<int64_t> used_rows(const at::Tensor& columns, int64_t rows) {
  std::vector<char> used(static_cast<size_t>(rows), 0);
  const int64_t* c = columns.const_data_ptr<int64_t>();
  for (int64_t e = 0; e < columns.numel(); ++e) used[c[e]] = 1;
  std::vector<int64_t> list;
  for (int64_t j = 0; j < rows; ++j) {
    if (used[j]) list.push_back(j);
  }
  return list;
}

at::Tensor kgs_conv3d_cpu(const at::Tensor& x, const at::Tensor& values,
                          const at::Tensor& block_ptr, const at::Tensor& columns,
                          const std::optional<at::Tensor>& bias, int64_t out_channels,
                          at::IntArrayRef kernel_size, at::IntArrayRef stride,
                          at::IntArrayRef padding, at::IntArrayRef dilation) {
  const KgsConv3dGeometry g = check_kgs_conv3d_args(
      x, values, block_ptr, columns, bias, out_channels, kernel_size, stride, padding, dilation);
  const at::Tensor ptr_c = block_ptr.contiguous(), cols_c = columns.contiguous();
  const at::Tensor x_c = x.contiguous(), values_c = values.contiguous();
  const at::Tensor bias_c = bias ? bias->contiguous() : at::Tensor();
  at::Tensor out = at::empty({g.batch, g.out_c, g.out_t, g.out_h, g.out_w}, x.options());
  if (out.numel() == 0) return out;
  const std::vector<int64_t> used = used_rows(cols_c, g.in_c * g.taps());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "kgs_conv3d_cpu", [&] {
    const int64_t sw = subtile_width<scalar_t>();
    const int64_t row_bytes = static_cast<int64_t>(used.size()) * sw * sizeof(scalar_t);
    const int64_t subtiles =
        std::clamp<int64_t>(kTileBytes / std::max<int64_t>(row_bytes, 1), 1,
                            std::min(kMaxSubtiles, (g.out_plane() + sw - 1) / sw));
    TileArgs<scalar_t> k{x_c.const_data_ptr<scalar_t>(),
                         values_c.const_data_ptr<scalar_t>(),
                         ptr_c.const_data_ptr<int64_t>(),
                         cols_c.const_data_ptr<int64_t>(),
                         bias ? bias_c.const_data_ptr<scalar_t>() : nullptr,
                         out.mutable_data_ptr<scalar_t>(),
                         used.data(),
                         static_cast<int64_t>(used.size()),
                         subtiles * sw,
                         g};
    const int64_t tiles_per_clip = (g.out_plane() + k.tile_width - 1) / k.tile_width;
    at::parallel_for(0, g.batch * tiles_per_clip, 1, [&](int64_t begin, int64_t end) {
      scalar_t* col =
          thread_scratch<scalar_t>(ScratchSlot::kColumns, g.in_c * g.taps() * k.tile_width);
      int64_t* segments = thread_scratch<int64_t>(ScratchSlot::kTaps, 5 * k.tile_width);
      for (int64_t i = begin; i < end; ++i) {
        const int64_t clip = i / tiles_per_clip, l0 = (i % tiles_per_clip) * k.tile_width;
        run_tile(k, clip, l0, std::min(k.tile_width, g.out_plane() - l0), col, segments);
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("kgs_conv3d", &kgs_conv3d_cpu); }

}  // namespace mmeff
