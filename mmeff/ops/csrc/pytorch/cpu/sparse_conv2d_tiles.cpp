// Direct tile path of the sparse_conv2d CPU kernel (float32): an 8 x 8 output tile is computed
// from one gathered input tile with a register-blocked micro-kernel, without an im2col matrix.
//
// Per task (tile, range of output channels):
//   gather:  the tile's receptive field, (C_in of the group, rows_in, stride_w phases, width),
//            zero where it falls outside the input. Columns are split by phase (x mod stride_w)
//            so that for every kernel tap the 8 inputs of an output row are contiguous: tap
//            (i, j) of output row r reads row r * stride_h + i * dil_h, phase (j * dil_w) mod
//            stride_w, from column (j * dil_w) div stride_w on. Compared with im2col, the
//            gather touches each input once instead of kh * kw times.
//   compute: acc(co, 64 positions) = bias + sum over (ci, tap) of w * shifted tile rows, input
//            channels in chunks that stay in L1 (sparse_conv2d_tile_kernel.inc).
//   store:   the selected positions of the tile into `out` (any memory format).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>

#include "scratch_buffer.h"
#include "sparse_conv2d_cpu.h"

#if defined(__x86_64__) || defined(_M_X64)
#define MMEFF_X86_TILE_KERNELS 1
#include <immintrin.h>
#endif

namespace mmeff {
namespace {

constexpr int64_t kTileArea = kTile * kTile;
// Bytes of input tile per chunk of input channels: the chunk stays in L1 while every output
// channel of the task is accumulated over it.
constexpr int64_t kChunkBytes = 20 * 1024;

// Addressing of one task's input tile and weights, shared by all its micro-kernel calls.
struct TileKernelArgs {
  const int64_t* tile_taps;  // per tap (i, j): offset of row 0's first input in the tile
  const int64_t* w_taps;     // per tap (i, j): offset in the weight of one (co, ci)
  int64_t n_taps;
  int64_t tile_cs;     // tile elements per input channel
  int64_t row_step;    // tile elements between output rows (stride_h tile rows)
  int64_t w_ci, w_co;  // weight strides of an input and an output channel
};

}  // namespace

#ifdef MMEFF_X86_TILE_KERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace tile_avx2 {
#include "sparse_conv2d_tile_kernel.inc"

// 16 vector registers: 4 rows x 3 channels of accumulators.
void accumulate(const TileKernelArgs& k, int64_t n_ci, int64_t n_co, int64_t rows,
                const float* tile, const float* w, float* acc) {
  tile_rows_fma<4, 3>(k, n_ci, n_co, rows, tile, w, acc);
}

void depthwise(const TileKernelArgs& k, int64_t rows, const float* in, const float* w, float bias,
               float* acc) {
  depthwise_rows<8>(k, rows, in, w, bias, acc);
}
}  // namespace tile_avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl")
namespace tile_avx512 {
#include "sparse_conv2d_tile_kernel.inc"

// Whole 8-row tiles with 512-bit vectors: one vector holds two tile rows (16 output positions,
// contiguous in the accumulators; the two input rows are loaded as halves), 4 row pairs x COB
// channels of accumulators. Twice the lanes of the 256-bit kernel per FMA.
template <int COB>
void tile_pairs_fma(const TileKernelArgs& k, int64_t n_ci, const float* tile, const float* w,
                    float* acc_buf) {
  constexpr int kPairs = kTile / 2;
  __m512 acc[COB][kPairs];
#pragma GCC unroll 8
  for (int c = 0; c < COB; ++c) {
#pragma GCC unroll 4
    for (int p = 0; p < kPairs; ++p)
      acc[c][p] = _mm512_loadu_ps(acc_buf + c * kTileArea + p * 2 * kTile);
  }
  for (int64_t ci = 0; ci < n_ci; ++ci) {
    const float* t = tile + ci * k.tile_cs;
    const float* wc = w + ci * k.w_ci;
    for (int64_t tap = 0; tap < k.n_taps; ++tap) {
      const float* src = t + k.tile_taps[tap];
      const float* wt = wc + k.w_taps[tap];
      __m512 wv[COB];
#pragma GCC unroll 8
      for (int c = 0; c < COB; ++c) wv[c] = _mm512_set1_ps(wt[c * k.w_co]);
#pragma GCC unroll 4
      for (int p = 0; p < kPairs; ++p) {
        const float* row = src + 2 * p * k.row_step;
        const __m512 v = _mm512_castpd_ps(
            _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(row))),
                               _mm256_castps_pd(_mm256_loadu_ps(row + k.row_step)), 1));
#pragma GCC unroll 8
        for (int c = 0; c < COB; ++c) acc[c][p] = _mm512_fmadd_ps(wv[c], v, acc[c][p]);
      }
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < COB; ++c) {
#pragma GCC unroll 4
    for (int p = 0; p < kPairs; ++p)
      _mm512_storeu_ps(acc_buf + c * kTileArea + p * 2 * kTile, acc[c][p]);
  }
}

// 32 vector registers: whole tiles as 4 row pairs x 6 channels of 512-bit accumulators; short
// tiles as 8 rows x 3 channels (or 4 rows x 6 channels) of 256-bit ones.
void accumulate(const TileKernelArgs& k, int64_t n_ci, int64_t n_co, int64_t rows,
                const float* tile, const float* w, float* acc) {
  if (rows == kTile) {
    int64_t c = 0;
    for (; c + 6 <= n_co; c += 6)
      tile_pairs_fma<6>(k, n_ci, tile, w + c * k.w_co, acc + c * kTileArea);
    for (; c + 2 <= n_co; c += 2)
      tile_pairs_fma<2>(k, n_ci, tile, w + c * k.w_co, acc + c * kTileArea);
    if (c < n_co) tile_pairs_fma<1>(k, n_ci, tile, w + c * k.w_co, acc + c * kTileArea);
  } else if (rows > 4) {
    tile_rows_fma<8, 3>(k, n_ci, n_co, rows, tile, w, acc);
  } else {
    tile_rows_fma<4, 6>(k, n_ci, n_co, rows, tile, w, acc);
  }
}

void depthwise(const TileKernelArgs& k, int64_t rows, const float* in, const float* w, float bias,
               float* acc) {
  depthwise_rows<8>(k, rows, in, w, bias, acc);
}
}  // namespace tile_avx512
#pragma GCC pop_options
#endif  // MMEFF_X86_TILE_KERNELS

namespace {

std::atomic<int64_t> g_level_limit{static_cast<int64_t>(CpuKernelLevel::kAvx512)};

CpuKernelLevel supported_level() {
#ifdef MMEFF_X86_TILE_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return CpuKernelLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return CpuKernelLevel::kAvx2;
  }
#endif
  return CpuKernelLevel::kGatherGemm;
}

// Sets the highest level the tile path may use (0 gather-GEMM only, 1 AVX2, 2 AVX-512) and
// returns the level it runs at from now on.
int64_t set_cpu_kernel_level(int64_t limit) {
  TORCH_CHECK(limit >= 0 && limit <= static_cast<int64_t>(CpuKernelLevel::kAvx512),
              "_set_cpu_kernel_level: level must be 0, 1 or 2, got ", limit);
  g_level_limit = limit;
  return static_cast<int64_t>(cpu_kernel_level());
}

// Shape of the gathered input tile of one output tile.
struct TileLayout {
  int64_t rows;                     // input rows: (kTile - 1) * stride_h + (kh - 1) * dil_h + 1
  int64_t width;                    // inputs per phase: kTile + (kw - 1) * dil_w / stride_w
  int64_t phase_len;                // width rounded up to whole vectors
  int64_t row_len;                  // stride_w * phase_len
  int64_t channel_len;              // rows * row_len
  std::vector<int64_t> tile_taps;   // per tap (i, j): offset of output row 0's inputs
  std::vector<int64_t> plane_taps;  // same in an NCHW input plane (stride_w 1, no gather)
  std::vector<int64_t> w_taps;      // per tap (i, j): offset in the weight of one (co, ci)

  TileLayout(const Conv2dGeometry& g, const int64_t w_strides[4]) {
    rows = (kTile - 1) * g.stride_h + (g.kernel_h - 1) * g.dil_h + 1;
    width = kTile + (g.kernel_w - 1) * g.dil_w / g.stride_w;
    phase_len = (width + kTile - 1) / kTile * kTile;
    row_len = g.stride_w * phase_len;
    channel_len = rows * row_len;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t dx = j * g.dil_w;
        tile_taps.push_back(i * g.dil_h * row_len + dx % g.stride_w * phase_len + dx / g.stride_w);
        plane_taps.push_back(i * g.dil_h * g.in_w + dx);
        w_taps.push_back(i * w_strides[2] + j * w_strides[3]);
      }
    }
  }
};

// Input tile of channels [c0, c0 + n_c) of image n, from an NCHW input. The gather is bound by
// the latency of its scattered row reads: the rows of a channel kPrefetchChannels ahead are
// requested while the current one is copied.
void gather_tile_nchw(const Conv2dArgs<float>& a, const TileLayout& L, const TileTask& t,
                      int64_t c0, int64_t n_c, float* tile) {
  constexpr int64_t kPrefetchChannels = 4;
  const auto& g = a.g;
  const int64_t y_base = t.ty * kTile * g.stride_h - g.pad_h;
  const int64_t x_base = t.tx * kTile * g.stride_w - g.pad_w;
  const int64_t plane = g.in_h * g.in_w;
  const int64_t span_w = (L.width - 1) * g.stride_w + g.stride_w;  // input columns read
  const bool inside_w = x_base >= 0 && x_base + span_w <= g.in_w;
  const int64_t u_lo = std::max<int64_t>(0, -y_base), u_hi = std::min(L.rows, g.in_h - y_base);
  const float* first = a.input + (t.n * g.in_channels + c0) * plane + std::max<int64_t>(x_base, 0);
  // Per phase q, the columns s in [lo, hi) that lie inside the input (border tiles).
  std::vector<int64_t> lo_of(g.stride_w), hi_of(g.stride_w);
  for (int64_t q = 0; q < g.stride_w; ++q) {
    int64_t s = 0;
    while (s < L.width && x_base + q + s * g.stride_w < 0) ++s;
    lo_of[q] = s;
    while (s < L.width && x_base + q + s * g.stride_w < g.in_w) ++s;
    hi_of[q] = s;
  }
  for (int64_t c = 0; c < n_c; ++c) {
    if (c + kPrefetchChannels < n_c) {
      const float* ahead = first + (c + kPrefetchChannels) * plane;
      for (int64_t u = u_lo; u < u_hi; ++u) {
        const float* row = ahead + (y_base + u) * g.in_w;
        __builtin_prefetch(row);
        __builtin_prefetch(row + std::min<int64_t>(span_w, g.in_w) - 1);
      }
    }
    const float* img = a.input + (t.n * g.in_channels + c0 + c) * plane;
    for (int64_t u = 0; u < L.rows; ++u) {
      float* dst = tile + c * L.channel_len + u * L.row_len;
      const int64_t yi = y_base + u;
      if (u < u_lo || u >= u_hi) {
        std::fill(dst, dst + L.row_len, 0.f);
        continue;
      }
      const float* row = img + yi * g.in_w;
      // Inline loops: a libc call per short row would cost more than the copy.
      if (inside_w && g.stride_w == 1) {
        const float* src = row + x_base;
        for (int64_t s = 0; s < L.width; ++s) dst[s] = src[s];
      } else if (inside_w) {
        for (int64_t q = 0; q < g.stride_w; ++q, dst += L.phase_len) {
          const float* src = row + x_base + q;
          for (int64_t s = 0; s < L.width; ++s) dst[s] = src[s * g.stride_w];
        }
      } else {
        for (int64_t q = 0; q < g.stride_w; ++q, dst += L.phase_len) {
          const int64_t lo = lo_of[q], hi = hi_of[q];
          const float* src = row + x_base + q;
          for (int64_t s = 0; s < lo; ++s) dst[s] = 0.f;
          for (int64_t s = lo; s < hi; ++s) dst[s] = src[s * g.stride_w];
          for (int64_t s = hi; s < L.width; ++s) dst[s] = 0.f;
        }
      }
    }
  }
}

using TransposeFn = void (*)(const float*, int64_t, float*, int64_t);

// Same from a channels_last input: a transpose, by 8 x 8 blocks (8 pixels x 8 channels) where
// the pixels are inside the input.
void gather_tile_nhwc(const Conv2dArgs<float>& a, const TileLayout& L, const TileTask& t,
                      int64_t c0, int64_t n_c, float* tile, TransposeFn transpose8) {
  const auto& g = a.g;
  const int64_t C = g.in_channels, pixel_step = g.stride_w * C;
  const int64_t y_base = t.ty * kTile * g.stride_h - g.pad_h;
  const int64_t x_base = t.tx * kTile * g.stride_w - g.pad_w;
  const float* img = a.input + t.n * g.in_h * g.in_w * C + c0;
  for (int64_t u = 0; u < L.rows; ++u) {
    const int64_t yi = y_base + u;
    for (int64_t q = 0; q < g.stride_w; ++q) {
      float* dst = tile + u * L.row_len + q * L.phase_len;  // channel c at c * channel_len
      // Pixels s in [lo, hi) of this phase lie inside the input.
      int64_t lo = 0, hi = 0;
      if (yi >= 0 && yi < g.in_h) {
        while (lo < L.width && x_base + q + lo * g.stride_w < 0) ++lo;
        hi = lo;
        while (hi < L.width && x_base + q + hi * g.stride_w < g.in_w) ++hi;
      }
      for (int64_t c = 0; c < n_c; ++c) {
        float* d = dst + c * L.channel_len;
        for (int64_t s = 0; s < lo; ++s) d[s] = 0.f;
        for (int64_t s = std::max(lo, hi); s < L.width; ++s) d[s] = 0.f;
      }
      if (lo >= hi) continue;
      const float* src = img + (yi * g.in_w + x_base + q) * C;  // pixel s at s * pixel_step
      int64_t s = lo;
      for (; s + 8 <= hi; s += 8) {
        int64_t c = 0;
        for (; c + 8 <= n_c; c += 8) {
          transpose8(src + s * pixel_step + c, pixel_step, dst + c * L.channel_len + s,
                     L.channel_len);
        }
        for (; c < n_c; ++c) {
          for (int64_t k = s; k < s + 8; ++k) dst[c * L.channel_len + k] = src[k * pixel_step + c];
        }
      }
      for (; s < hi; ++s) {
        for (int64_t c = 0; c < n_c; ++c) dst[c * L.channel_len + s] = src[s * pixel_step + c];
      }
    }
  }
}

// Writes the selected positions of the task's accumulated tile into `out`.
void store_tile(const Conv2dArgs<float>& a, const bool* mask, const TileTask& t, const float* acc,
                TransposeFn transpose8) {
  const auto& g = a.g;
  const int64_t n_co = t.co_end - t.co_begin;
  const int64_t y0 = t.ty * kTile, x0 = t.tx * kTile;
  const int64_t rows = std::min(kTile, g.out_h - y0), cols = std::min(kTile, g.out_w - x0);
  auto selected = [&](int64_t r, int64_t p) {
    return t.full || mask[(t.n * g.out_h + y0 + r) * g.out_w + x0 + p];
  };
  if (a.out_sc == 1) {  // channels_last out: contiguous over channels
    for (int64_t r = 0; r < rows; ++r) {
      if (t.full && cols == kTile) {  // 8 x 8 blocks: channels x pixels to pixels x channels
        int64_t c = 0;
        for (; c + 8 <= n_co; c += 8) {
          transpose8(acc + c * kTileArea + r * kTile, kTileArea,
                     a.out_at(t.n, t.co_begin + c, y0 + r, x0), a.out_sw);
        }
        for (; c < n_co; ++c) {
          for (int64_t p = 0; p < cols; ++p) {
            *a.out_at(t.n, t.co_begin + c, y0 + r, x0 + p) = acc[c * kTileArea + r * kTile + p];
          }
        }
        continue;
      }
      for (int64_t p = 0; p < cols; ++p) {
        if (!selected(r, p)) continue;
        float* dst = a.out_at(t.n, t.co_begin, y0 + r, x0 + p);
        const float* src = acc + r * kTile + p;
        for (int64_t c = 0; c < n_co; ++c) dst[c] = src[c * kTileArea];
      }
    }
    return;
  }
  for (int64_t c = 0; c < n_co; ++c) {
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = a.out_at(t.n, t.co_begin + c, y0 + r, x0);
      const float* src = acc + c * kTileArea + r * kTile;
      if (t.full && a.out_sw == 1) {
        for (int64_t p = 0; p < cols; ++p) dst[p] = src[p];
        continue;
      }
      for (int64_t p = 0; p < cols; ++p) {
        if (selected(r, p)) dst[p * a.out_sw] = src[p];
      }
    }
  }
}

using AccumulateFn = void (*)(const TileKernelArgs&, int64_t, int64_t, int64_t, const float*,
                              const float*, float*);
using DepthwiseFn = void (*)(const TileKernelArgs&, int64_t, const float*, const float*, float,
                             float*);

// The micro-kernels of one instruction-set level.
struct TileKernels {
  AccumulateFn accumulate;
  DepthwiseFn depthwise;
  TransposeFn transpose8;
};

TileKernels tile_kernels(CpuKernelLevel level) {
#ifdef MMEFF_X86_TILE_KERNELS
  if (level == CpuKernelLevel::kAvx512) {
    return {&tile_avx512::accumulate, &tile_avx512::depthwise, &tile_avx512::transpose8};
  }
  if (level == CpuKernelLevel::kAvx2) {
    return {&tile_avx2::accumulate, &tile_avx2::depthwise, &tile_avx2::transpose8};
  }
#endif
  TORCH_CHECK(false, "sparse_conv2d: no tile kernel for this CPU");
  return {nullptr, nullptr, nullptr};
}

// Depthwise-like convs (one input channel per group) from an NCHW input, channel by channel:
// interior tiles at stride_w 1 read the input plane directly, others a one-channel tile.
void run_depthwise_task_nchw(const Conv2dArgs<float>& a, const int64_t w_strides[4],
                             const bool* mask, const TileLayout& L, const TileTask& t,
                             const TileKernels& kernels) {
  const auto& g = a.g;
  const int64_t cog = g.out_per_group(), plane = g.in_h * g.in_w;
  const int64_t y_base = t.ty * kTile * g.stride_h - g.pad_h;
  const int64_t x_base = t.tx * kTile * g.stride_w - g.pad_w;
  const bool direct = g.stride_w == 1 && y_base >= 0 && y_base + L.rows <= g.in_h && x_base >= 0 &&
                      x_base + L.width <= g.in_w;
  const TileKernelArgs k{direct ? L.plane_taps.data() : L.tile_taps.data(),
                         L.w_taps.data(),
                         static_cast<int64_t>(L.w_taps.size()),
                         direct ? plane : L.channel_len,
                         g.stride_h * (direct ? g.in_w : L.row_len),
                         w_strides[1],
                         w_strides[0]};
  const int64_t rows = std::min(kTile, g.out_h - t.ty * kTile);
  float* tile =
      direct ? nullptr : thread_scratch<float>(ScratchSlot::kColumns, L.channel_len + kTile);
  float* acc = thread_scratch<float>(ScratchSlot::kResults, (t.co_end - t.co_begin) * kTileArea);
  constexpr int64_t kPrefetchChannels = 4;
  const int64_t u_lo = std::max<int64_t>(0, -y_base), u_hi = std::min(L.rows, g.in_h - y_base);
  const int64_t x_lo = std::max<int64_t>(x_base, 0);
  const int64_t x_last = std::min(x_base + (L.width - 1) * g.stride_w + g.stride_w, g.in_w) - 1;
  for (int64_t co = t.co_begin; co < t.co_end; ++co) {
    const int64_t ci = co / cog;
    // The input rows of a channel a few ahead: this path is bound by their latency.
    if (co + kPrefetchChannels * cog < t.co_end) {
      const float* ahead = a.input + (t.n * g.in_channels + ci + kPrefetchChannels) * plane;
      for (int64_t u = u_lo; u < u_hi; ++u) {
        __builtin_prefetch(ahead + (y_base + u) * g.in_w + x_lo);
        __builtin_prefetch(ahead + (y_base + u) * g.in_w + x_last);
      }
    }
    const float* src;
    if (direct) {
      src = a.input + (t.n * g.in_channels + ci) * plane + y_base * g.in_w + x_base;
    } else {
      gather_tile_nchw(a, L, t, ci, 1, tile);
      src = tile;
    }
    kernels.depthwise(k, rows, src, a.weight + co * w_strides[0], a.bias_at(co),
                      acc + (co - t.co_begin) * kTileArea);
  }
  store_tile(a, mask, t, acc, kernels.transpose8);
}

void run_task(const Conv2dArgs<float>& a, const int64_t w_strides[4], const bool* mask,
              bool channels_last, const TileLayout& L, const TileTask& t,
              const TileKernels& kernels) {
  const auto& g = a.g;
  if (g.in_per_group() == 1 && !channels_last) {
    run_depthwise_task_nchw(a, w_strides, mask, L, t, kernels);
    return;
  }
  const AccumulateFn accumulate = kernels.accumulate;
  const int64_t cig = g.in_per_group(), cog = g.out_per_group();
  const int64_t n_co = t.co_end - t.co_begin;
  // The groups the task's channels belong to (several for depthwise-like convs).
  const int64_t g0 = t.co_begin / cog, g1 = (t.co_end - 1) / cog;
  const int64_t n_ci = (g1 - g0 + 1) * cig;
  float* tile = thread_scratch<float>(ScratchSlot::kColumns, n_ci * L.channel_len + kTile);
  if (channels_last) {
    gather_tile_nhwc(a, L, t, g0 * cig, n_ci, tile, kernels.transpose8);
  } else {
    gather_tile_nchw(a, L, t, g0 * cig, n_ci, tile);
  }
  float* acc = thread_scratch<float>(ScratchSlot::kResults, n_co * kTileArea);
  for (int64_t c = 0; c < n_co; ++c) {
    std::fill_n(acc + c * kTileArea, kTileArea, a.bias_at(t.co_begin + c));
  }

  const TileKernelArgs k{
      L.tile_taps.data(), L.w_taps.data(),        static_cast<int64_t>(L.w_taps.size()),
      L.channel_len,      g.stride_h * L.row_len, w_strides[1],
      w_strides[0]};
  const int64_t rows = std::min(kTile, g.out_h - t.ty * kTile);
  // Input channels in equal chunks of at most kChunkBytes of tile.
  const int64_t max_chunk = std::max<int64_t>(1, kChunkBytes / (L.channel_len * 4));
  const int64_t n_chunks = (cig + max_chunk - 1) / max_chunk;
  const int64_t chunk = (cig + n_chunks - 1) / n_chunks;
  for (int64_t co = t.co_begin; co < t.co_end;) {
    const int64_t group = co / cog;
    const int64_t seg_end = std::min(t.co_end, (group + 1) * cog);
    const float* tile_g = tile + (group - g0) * cig * L.channel_len;
    for (int64_t ci = 0; ci < cig; ci += chunk) {
      accumulate(k, std::min(chunk, cig - ci), seg_end - co, rows, tile_g + ci * L.channel_len,
                 a.weight + co * w_strides[0] + ci * w_strides[1],
                 acc + (co - t.co_begin) * kTileArea);
    }
    co = seg_end;
  }
  store_tile(a, mask, t, acc, kernels.transpose8);
}

}  // namespace

CpuKernelLevel cpu_kernel_level() {
  static const CpuKernelLevel supported = supported_level();
  return static_cast<CpuKernelLevel>(
      std::min(static_cast<int64_t>(supported), g_level_limit.load()));
}

void run_tile_tasks(const Conv2dArgs<float>& a, const int64_t w_strides[4], const bool* mask,
                    bool channels_last, const std::vector<TileTask>& tasks, CpuKernelLevel level) {
  const TileLayout layout(a.g, w_strides);
  const TileKernels kernels = tile_kernels(level);
  // Threads take tasks from a shared counter: on a busy machine a thread that is preempted
  // leaves its share to the others instead of holding everyone at the join.
  const int64_t n_tasks = static_cast<int64_t>(tasks.size());
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(std::max(at::get_num_threads(), 1), n_tasks);
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t worker = begin; worker < end; ++worker) {
      for (int64_t i = next++; i < n_tasks; i = next++) {
        run_task(a, w_strides, mask, channels_last, layout, tasks[i], kernels);
      }
    }
  });
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def("_set_cpu_kernel_level(int level) -> int", &set_cpu_kernel_level);
}

}  // namespace mmeff
