// CPU kernel of sparse_conv2d. Two paths share the work of one call:
//
// * Direct tiles (float32 on CPUs with AVX2/AVX-512, cpu/sparse_conv2d_tiles.cpp): the 8 x 8
//   output tiles (aligned to the output grid) that the mask selects wholly or mostly are
//   computed from one gathered input tile by a register-blocked micro-kernel. This is the path
//   of the b x b block masks that gates produce.
// * Gather-GEMM-scatter (everything else: float64, scattered positions, CPUs without AVX2):
//   the receptive fields of the remaining active positions are gathered into an im2col matrix,
//   one GEMM per chunk of positions and group, results scattered into `out`.
//
// The gather-GEMM path takes the active positions as horizontal runs (n, y, x0, len), grouped
// into chunks that fit the cache; chunks are spread over threads with at::parallel_for and each
// runs a single-threaded BLAS GEMM (blas.h) on its own buffers. Two layouts, chosen by the
// input's memory format:
//   NCHW:          col is (K x M), K = (c, i, j); result (C_out/g x M)
//   channels_last: col is (M x K), K = (i, j, c); result (M x C_out/g)
// Depthwise-like convs (one input channel per group) skip the GEMM and accumulate directly.
#include "sparse_conv2d.h"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "blas.h"
#include "scratch_buffer.h"
#include "sparse_conv2d_cpu.h"

namespace mmeff {
namespace {

// A horizontal run of active output positions: row y of image n, columns [x0, x0 + len).
// m0 is the run's first column in its chunk's im2col matrix.
struct Run {
  int64_t n, y, x0, len, m0;
};

struct Chunk {
  int64_t first_run, end_run, positions;
};

// Longest run kept whole; longer runs are split so chunks stay balanced.
constexpr int64_t kMaxRunLength = 64;
// Run length of a row of a b x b block with b = 8: copied with a fixed-size copy.
constexpr int64_t kBlockRow = 8;
// How many runs ahead the gather prefetches input rows.
constexpr int64_t kPrefetchRuns = 4;
// Target size of one chunk's im2col buffer, in bytes (about a quarter of a 1-2 MiB L2).
constexpr int64_t kChunkBytes = 384 * 1024;

// Runs of the active positions outside the tiles the direct path computes (`taken`, one flag
// per (n, tile row, tile column); empty when there are none).
std::vector<Run> mask_runs(const Conv2dGeometry& g, const bool* mask,
                           const std::vector<uint8_t>& taken) {
  const int64_t h = g.out_h, w = g.out_w;
  const int64_t tiles_h = (h + kTile - 1) / kTile, tiles_w = (w + kTile - 1) / kTile;
  std::vector<Run> runs;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t y = 0; y < h; ++y) {
      const bool* row = mask + (n * h + y) * w;
      const uint8_t* taken_row =
          taken.empty() ? nullptr : &taken[(n * tiles_h + y / kTile) * tiles_w];
      auto active = [&](int64_t x) { return row[x] && !(taken_row && taken_row[x / kTile]); };
      int64_t x = 0;
      while (x < w) {
        while (x < w && !active(x)) ++x;
        const int64_t start = x;
        while (x < w && active(x) && x - start < kMaxRunLength) ++x;
        if (x > start) runs.push_back({n, y, start, x - start, 0});
      }
    }
  }
  return runs;
}

// Share of a tile's computed positions that must be selected for the direct path to take it:
// below, the gather-GEMM path computing the selected positions alone is faster.
constexpr double kTileMinSelectedShare = 0.4;
// Tasks per thread the direct path aims at, so that threads finish together.
constexpr int64_t kTasksPerThread = 4;
// Fewest output channels of a task (a task gathers its tile again).
constexpr int64_t kMinTaskChannels = 12;

// The output tiles the direct path computes, as tasks (tile x range of output channels), and
// their flags in `taken`. Splits channels when there are too few tiles to keep threads busy.
std::vector<TileTask> plan_tile_tasks(const Conv2dGeometry& g, const bool* mask,
                                      std::vector<uint8_t>& taken) {
  const int64_t tiles_h = (g.out_h + kTile - 1) / kTile, tiles_w = (g.out_w + kTile - 1) / kTile;
  taken.assign(g.batch * tiles_h * tiles_w, 0);
  std::vector<TileTask> tiles;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t ty = 0; ty < tiles_h; ++ty) {
      const int64_t rows = std::min(kTile, g.out_h - ty * kTile);
      // The micro-kernels compute rows in groups of 4.
      const int64_t computed = (rows + 3) / 4 * 4 * kTile;
      for (int64_t tx = 0; tx < tiles_w; ++tx) {
        const int64_t cols = std::min(kTile, g.out_w - tx * kTile);
        int64_t selected = 0;
        for (int64_t r = 0; r < rows; ++r) {
          const bool* m = mask + (n * g.out_h + ty * kTile + r) * g.out_w + tx * kTile;
          for (int64_t p = 0; p < cols; ++p) selected += m[p];
        }
        if (selected == 0 || selected < kTileMinSelectedShare * computed) continue;
        taken[(n * tiles_h + ty) * tiles_w + tx] = 1;
        tiles.push_back({n, ty, tx, 0, 0, selected == rows * cols});
      }
    }
  }
  if (tiles.empty()) return tiles;
  // Channel ranges: whole groups for depthwise-like convs (one input channel per group, cheap
  // per channel), else ranges inside one group.
  const bool depthwise = g.in_per_group() == 1;
  const int64_t span = depthwise ? g.out_channels : g.out_per_group();
  const int64_t n_spans = depthwise ? 1 : g.groups;
  const int64_t want = kTasksPerThread * std::max<int64_t>(at::get_num_threads(), 1);
  const int64_t have = static_cast<int64_t>(tiles.size()) * n_spans;
  const int64_t splits = std::clamp<int64_t>((want + have - 1) / have, 1,
                                             std::max<int64_t>(span / kMinTaskChannels, 1));
  const int64_t per_task = (span + splits - 1) / splits;
  std::vector<TileTask> tasks;
  tasks.reserve(tiles.size() * n_spans * splits);
  for (int64_t s = 0; s < n_spans; ++s) {
    for (int64_t c = 0; c < span; c += per_task) {
      for (const TileTask& t : tiles) {
        tasks.push_back(
            {t.n, t.ty, t.tx, s * span + c, s * span + std::min(span, c + per_task), t.full});
      }
    }
  }
  return tasks;
}

// Splits the runs into `n_chunks` consecutive groups of about equal position counts (a run is
// never split) and sets each run's m0, its column in its chunk.
std::vector<Chunk> make_chunks(std::vector<Run>& runs, int64_t total, int64_t n_chunks) {
  std::vector<Chunk> chunks;
  const int64_t target = (total + n_chunks - 1) / n_chunks;
  int64_t first = 0, positions = 0;
  for (int64_t r = 0; r < static_cast<int64_t>(runs.size()); ++r) {
    if (positions > 0 && positions + runs[r].len > target) {
      chunks.push_back({first, r, positions});
      first = r;
      positions = 0;
    }
    runs[r].m0 = positions;
    positions += runs[r].len;
  }
  if (positions > 0) chunks.push_back({first, static_cast<int64_t>(runs.size()), positions});
  return chunks;
}

// Small copies and fills as inline loops: a libc call per 8-element segment would cost more
// than the copy. A row of an 8 x 8 block is a fixed-size copy.
template <typename T>
inline void copy_n(const T* __restrict src, int64_t n, T* __restrict dst) {
  if (n == kBlockRow) {
    std::memcpy(dst, src, kBlockRow * sizeof(T));
    return;
  }
  for (int64_t t = 0; t < n; ++t) dst[t] = src[t];
}

template <typename T>
inline void zero_n(T* __restrict dst, int64_t n) {
  for (int64_t t = 0; t < n; ++t) dst[t] = T(0);
}

// Columns t of a run whose input column x_start + t * stride lies inside [0, width).
// (No integer division at stride 1: this runs once per (channel, kernel tap) of border runs.)
inline void valid_range(int64_t x_start, int64_t stride, int64_t width, int64_t len, int64_t& t_lo,
                        int64_t& t_hi) {
  if (stride == 1) {
    t_lo = std::max<int64_t>(-x_start, 0);
    t_hi = std::min(len, width - x_start);
  } else {
    t_lo = x_start >= 0 ? 0 : (-x_start + stride - 1) / stride;
    t_hi = x_start > width - 1 ? 0 : std::min(len, (width - 1 - x_start) / stride + 1);
  }
  t_lo = std::min(std::max<int64_t>(t_lo, 0), len);
  t_hi = std::max(t_hi, t_lo);
}

// ---------------------------------------------------------------- NCHW: col is (K x M)

// Asks for the input rows a run reads from one NCHW channel plane: the gather is bound by the
// latency of these scattered loads, not by bandwidth.
template <typename T>
inline void prefetch_receptive_field(const Conv2dArgs<T>& a, const Run& run, int64_t channel) {
  const auto& g = a.g;
  const int64_t y0 = run.y * g.stride_h - g.pad_h;
  const int64_t x0 = std::max<int64_t>(run.x0 * g.stride_w - g.pad_w, 0);
  const T* img = a.input + (run.n * g.in_channels + channel) * g.in_h * g.in_w;
  for (int64_t i = 0; i < g.kernel_h; ++i) {
    const int64_t yi = y0 + i * g.dil_h;
    if (yi < 0 || yi >= g.in_h) continue;
    const T* row = img + yi * g.in_w + x0;
    __builtin_prefetch(row);
    __builtin_prefetch(row + 64 / sizeof(T));
  }
}

template <typename T>
void gather_nchw(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs, int64_t group, int64_t M,
                 T* col) {
  const auto& g = a.g;
  const int64_t cg = g.in_per_group(), plane = g.in_h * g.in_w;
  const int64_t span_h = (g.kernel_h - 1) * g.dil_h, span_w = (g.kernel_w - 1) * g.dil_w;
  // Channel by channel: the chunk's reads of one input plane stay in L1 (neighbouring runs
  // share input rows), and col is written in kh * kw sequential streams.
  for (int64_t c = 0; c < cg; ++c) {
    const int64_t channel = group * cg + c;
    T* col_c = col + c * g.kernel_h * g.kernel_w * M;
    for (int64_t r = 0; r < n_runs; ++r) {
      const Run& run = runs[r];
      const T* img = a.input + (run.n * g.in_channels + channel) * plane;
      const int64_t y0 = run.y * g.stride_h - g.pad_h, x0 = run.x0 * g.stride_w - g.pad_w;
      if (r + kPrefetchRuns < n_runs) prefetch_receptive_field(a, runs[r + kPrefetchRuns], channel);
      T* dst = col_c + run.m0;
      if (g.stride_w == 1 && y0 >= 0 && y0 + span_h < g.in_h && x0 >= 0 &&
          x0 + run.len - 1 + span_w < g.in_w) {
        // Common case: the run's whole receptive field is inside the input; no bounds checks.
        for (int64_t i = 0; i < g.kernel_h; ++i) {
          const T* src = img + (y0 + i * g.dil_h) * g.in_w + x0;
          for (int64_t j = 0; j < g.kernel_w; ++j, dst += M) {
            copy_n(src + j * g.dil_w, run.len, dst);
          }
        }
        continue;
      }
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t yi = y0 + i * g.dil_h;
        for (int64_t j = 0; j < g.kernel_w; ++j, dst += M) {
          if (yi < 0 || yi >= g.in_h) {
            zero_n(dst, run.len);
            continue;
          }
          const int64_t xs = x0 + j * g.dil_w;
          const T* src_row = img + yi * g.in_w;
          int64_t lo, hi;
          valid_range(xs, g.stride_w, g.in_w, run.len, lo, hi);
          zero_n(dst, lo);
          for (int64_t t = lo; t < hi; ++t) dst[t] = src_row[xs + t * g.stride_w];
          zero_n(dst + hi, run.len - hi);
        }
      }
    }
  }
}

template <typename T>
void scatter_nchw(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs, int64_t group, int64_t M,
                  const T* res) {
  const int64_t cog = a.g.out_per_group();
  for (int64_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    for (int64_t co = 0; co < cog; ++co) {
      const int64_t c = group * cog + co;
      const T b = a.bias_at(c);
      const T* src = res + co * M + run.m0;
      T* dst = a.out_at(run.n, c, run.y, run.x0);
      if (a.out_sw == 1) {
        for (int64_t t = 0; t < run.len; ++t) dst[t] = src[t] + b;
      } else {
        for (int64_t t = 0; t < run.len; ++t) dst[t * a.out_sw] = src[t] + b;
      }
    }
  }
}

template <typename T>
void gemm_chunk_nchw(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs, int64_t M) {
  const auto& g = a.g;
  const int64_t K = g.patch_size(), cog = g.out_per_group();
  T* col = thread_scratch<T>(ScratchSlot::kColumns, K * M);
  T* res = thread_scratch<T>(ScratchSlot::kResults, cog * M);
  for (int64_t group = 0; group < g.groups; ++group) {
    gather_nchw(a, runs, n_runs, group, M, col);
    // Row-major res(cog x M) = W_g(cog x K) * col(K x M), i.e. column-major
    // res^T(M x cog) = col^T(M x K) * W_g^T(K x cog).
    blas::gemm<T>(false, false, M, cog, K, T(1), col, M, a.weight + group * cog * K, K, T(0), res,
                  M);
    scatter_nchw(a, runs, n_runs, group, M, res);
  }
}

// Depthwise-like (one input channel per group): direct accumulation along each run.
template <typename T>
void direct_chunk_nchw(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs) {
  const auto& g = a.g;
  const int64_t cog = g.out_per_group(), plane = g.in_h * g.in_w;
  T* acc = thread_scratch<T>(ScratchSlot::kAccumulator, kMaxRunLength);
  for (int64_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    const int64_t y0 = run.y * g.stride_h - g.pad_h, x0 = run.x0 * g.stride_w - g.pad_w;
    for (int64_t c = 0; c < g.out_channels; ++c) {
      const T* img = a.input + (run.n * g.in_channels + c / cog) * plane;
      const T* w = a.weight + c * g.kernel_h * g.kernel_w;
      std::fill(acc, acc + run.len, a.bias_at(c));
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t yi = y0 + i * g.dil_h;
        if (yi < 0 || yi >= g.in_h) continue;
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          const int64_t xs = x0 + j * g.dil_w;
          int64_t lo, hi;
          valid_range(xs, g.stride_w, g.in_w, run.len, lo, hi);
          const T wv = w[i * g.kernel_w + j];
          const T* src_row = img + yi * g.in_w;
          for (int64_t t = lo; t < hi; ++t) acc[t] += wv * src_row[xs + t * g.stride_w];
        }
      }
      T* dst = a.out_at(run.n, c, run.y, run.x0);
      for (int64_t t = 0; t < run.len; ++t) dst[t * a.out_sw] = acc[t];
    }
  }
}

// ------------------------------------------------------- channels_last: col is (M x K)

template <typename T>
void gather_nhwc(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs, int64_t group, int64_t K,
                 T* col) {
  const auto& g = a.g;
  const int64_t cg = g.in_per_group();
  for (int64_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    const T* img = a.input + run.n * g.in_h * g.in_w * g.in_channels + group * cg;
    const int64_t y0 = run.y * g.stride_h - g.pad_h;
    for (int64_t t = 0; t < run.len; ++t) {
      const int64_t x0 = (run.x0 + t) * g.stride_w - g.pad_w;
      T* dst = col + (run.m0 + t) * K;
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t yi = y0 + i * g.dil_h;
        for (int64_t j = 0; j < g.kernel_w; ++j, dst += cg) {
          const int64_t xi = x0 + j * g.dil_w;
          if (yi < 0 || yi >= g.in_h || xi < 0 || xi >= g.in_w) {
            zero_n(dst, cg);
          } else {
            copy_n(img + (yi * g.in_w + xi) * g.in_channels, cg, dst);
          }
        }
      }
    }
  }
}

template <typename T>
void scatter_nhwc(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs, int64_t group,
                  const T* res) {
  const int64_t cog = a.g.out_per_group();
  for (int64_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    for (int64_t t = 0; t < run.len; ++t) {
      const T* src = res + (run.m0 + t) * cog;
      T* dst = a.out_at(run.n, group * cog, run.y, run.x0 + t);
      for (int64_t co = 0; co < cog; ++co) {
        dst[co * a.out_sc] = src[co] + a.bias_at(group * cog + co);
      }
    }
  }
}

template <typename T>
void gemm_chunk_nhwc(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs, int64_t M) {
  const auto& g = a.g;
  const int64_t K = g.patch_size(), cog = g.out_per_group();
  T* col = thread_scratch<T>(ScratchSlot::kColumns, M * K);
  T* res = thread_scratch<T>(ScratchSlot::kResults, M * cog);
  for (int64_t group = 0; group < g.groups; ++group) {
    gather_nhwc(a, runs, n_runs, group, K, col);
    // Row-major res(M x cog) = col(M x K) * W_g^T(K x cog), i.e. column-major
    // res^T(cog x M) = W_g(cog x K, stored K-major) * col^T(K x M).
    blas::gemm<T>(true, false, cog, M, K, T(1), a.weight + group * cog * K, K, col, K, T(0), res,
                  cog);
    scatter_nhwc(a, runs, n_runs, group, res);
  }
}

// Depthwise-like, channels_last. weight here is (kh * kw, C_out): contiguous over channels.
template <typename T>
void direct_chunk_nhwc(const Conv2dArgs<T>& a, const Run* runs, int64_t n_runs) {
  const auto& g = a.g;
  const int64_t cog = g.out_per_group(), C = g.out_channels;
  T* acc = thread_scratch<T>(ScratchSlot::kAccumulator, C);
  for (int64_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    const T* img = a.input + run.n * g.in_h * g.in_w * g.in_channels;
    const int64_t y0 = run.y * g.stride_h - g.pad_h;
    for (int64_t t = 0; t < run.len; ++t) {
      const int64_t x0 = (run.x0 + t) * g.stride_w - g.pad_w;
      for (int64_t c = 0; c < C; ++c) acc[c] = a.bias_at(c);
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t yi = y0 + i * g.dil_h;
        if (yi < 0 || yi >= g.in_h) continue;
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          const int64_t xi = x0 + j * g.dil_w;
          if (xi < 0 || xi >= g.in_w) continue;
          const T* src = img + (yi * g.in_w + xi) * g.in_channels;
          const T* w = a.weight + (i * g.kernel_w + j) * C;
          if (cog == 1) {
            for (int64_t c = 0; c < C; ++c) acc[c] += w[c] * src[c];
          } else {
            for (int64_t c = 0; c < C; ++c) acc[c] += w[c] * src[c / cog];
          }
        }
      }
      T* dst = a.out_at(run.n, 0, run.y, run.x0 + t);
      for (int64_t c = 0; c < C; ++c) dst[c * a.out_sc] = acc[c];
    }
  }
}

// ------------------------------------------------------------------------------ driver

template <typename T>
void run_chunks(const Conv2dArgs<T>& a, const std::vector<Run>& runs,
                const std::vector<Chunk>& chunks, bool channels_last, bool direct) {
  at::parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const Chunk& ch = chunks[k];
      const Run* first = runs.data() + ch.first_run;
      const int64_t n_runs = ch.end_run - ch.first_run;
      if (direct) {
        channels_last ? direct_chunk_nhwc(a, first, n_runs) : direct_chunk_nchw(a, first, n_runs);
      } else {
        channels_last ? gemm_chunk_nhwc(a, first, n_runs, ch.positions)
                      : gemm_chunk_nchw(a, first, n_runs, ch.positions);
      }
    }
  });
}

// Whether the direct tile path can run this call: float32, a CPU with a tile kernel, and an
// input tile of moderate size (huge kernels or dilations go through gather-GEMM).
bool tile_path_applies(const Conv2dGeometry& g, const at::Tensor& input) {
  constexpr int64_t kMaxTileChannelLen = 4096;
  const int64_t rows = (kTile - 1) * g.stride_h + (g.kernel_h - 1) * g.dil_h + 1;
  const int64_t width = kTile + (g.kernel_w - 1) * g.dil_w / g.stride_w;
  return input.scalar_type() == at::kFloat && cpu_kernel_level() != CpuKernelLevel::kGatherGemm &&
         rows * g.stride_w * (width + kTile) <= kMaxTileChannelLen;
}

// Step 1, the direct tiles: computes the 8x8 output tiles the mask mostly selects (float32 on
// AVX2/AVX-512 CPUs) and marks them in `taken` (empty when the path does not apply).
void tile_step(const Conv2dGeometry& g, const at::Tensor& x, const at::Tensor& weight,
               const at::Tensor& b, const bool* mask, const at::Tensor& out, bool channels_last,
               std::vector<uint8_t>& taken) {
  if (!tile_path_applies(g, x)) return;
  const std::vector<TileTask> tasks = plan_tile_tasks(g, mask, taken);
  if (tasks.empty()) return;
  const at::Tensor w = weight.is_non_overlapping_and_dense() ? weight : weight.contiguous();
  const int64_t w_strides[4] = {w.stride(0), w.stride(1), w.stride(2), w.stride(3)};
  const Conv2dArgs<float> a{g,
                            x.const_data_ptr<float>(),
                            w.const_data_ptr<float>(),
                            b.defined() ? b.const_data_ptr<float>() : nullptr,
                            out.mutable_data_ptr<float>(),
                            out.stride(0),
                            out.stride(1),
                            out.stride(2),
                            out.stride(3)};
  run_tile_tasks(a, w_strides, mask, channels_last, tasks, cpu_kernel_level());
}

// Step 2, gather-GEMM-scatter: the selected positions outside `taken` tiles, as runs grouped
// into cache-sized chunks, a multiple of the thread count so that every thread gets the same
// amount of work.
void gather_step(const Conv2dGeometry& g, const at::Tensor& x, const at::Tensor& weight,
                 const at::Tensor& b, const bool* mask, const at::Tensor& out, bool channels_last,
                 const std::vector<uint8_t>& taken) {
  std::vector<Run> runs = mask_runs(g, mask, taken);
  if (runs.empty()) return;
  const bool direct = g.in_per_group() == 1;
  at::Tensor w;
  if (!channels_last) {
    w = weight.contiguous();
  } else if (direct) {
    w = weight.reshape({g.out_channels, g.kernel_h * g.kernel_w}).t().contiguous();
  } else {
    w = weight.permute({0, 2, 3, 1}).contiguous();
  }
  int64_t total = 0;
  for (const Run& r : runs) total += r.len;
  const int64_t row_bytes = std::max<int64_t>(g.patch_size(), 1) * x.element_size();
  const int64_t max_positions = std::clamp<int64_t>(kChunkBytes / row_bytes, 64, 1024);
  const int64_t threads = std::max<int64_t>(at::get_num_threads(), 1);
  const int64_t rounds =
      std::max<int64_t>(1, (total + threads * max_positions - 1) / (threads * max_positions));
  const std::vector<Chunk> chunks = make_chunks(runs, total, threads * rounds);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_conv2d_cpu", [&] {
    Conv2dArgs<scalar_t> a{g,
                           x.const_data_ptr<scalar_t>(),
                           w.const_data_ptr<scalar_t>(),
                           b.defined() ? b.const_data_ptr<scalar_t>() : nullptr,
                           out.mutable_data_ptr<scalar_t>(),
                           out.stride(0),
                           out.stride(1),
                           out.stride(2),
                           out.stride(3)};
    run_chunks(a, runs, chunks, channels_last, direct);
  });
}

}  // namespace

void sparse_conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, const at::Tensor& mask,
                       const at::Tensor& out, at::IntArrayRef stride, at::IntArrayRef padding,
                       at::IntArrayRef dilation, int64_t groups) {
  const Conv2dGeometry g = check_sparse_conv2d_args("sparse_conv2d: ", "out", input, weight, bias,
                                                    mask, out, stride, padding, dilation, groups);
  const at::Tensor mask_c = mask.contiguous();
  const bool* mask_ptr = mask_c.const_data_ptr<bool>();
  const bool channels_last =
      !input.is_contiguous() && input.is_contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor x = channels_last ? input : input.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  std::vector<uint8_t> taken;
  tile_step(g, x, weight, b, mask_ptr, out, channels_last, taken);
  gather_step(g, x, weight, b, mask_ptr, out, channels_last, taken);
}

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("sparse_conv2d", &sparse_conv2d_cpu); }

}  // namespace mmeff
