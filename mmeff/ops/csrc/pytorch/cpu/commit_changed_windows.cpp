// CPU kernel of commit_changed_windows (see ../commit_changed_windows.cpp for the contract).
//
// The input is first zero-padded into a contiguous NCHW copy that covers every window (only
// the borders are zeroed; rows are copied and checked for NaN/Inf in one pass), so each window
// is a plain (C, win_h, win_w) box of rows. Pass 1 decides every block in parallel: the L1
// change of its window against its snapshot, accumulated over channels in vector registers and
// compared with the limit every few channels (at threshold 0 a changed pixel fires within 4
// channels; unchanged blocks are read fully). Pass 2 copies the windows of the fired blocks
// into their snapshots; then the output mask is written. The loops are compiled for AVX-512,
// AVX2 and baseline x86-64 and picked at load time (GCC target_clones); the usual window
// widths get fixed-width loops.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "commit_changed_windows.h"
#include "cpu_clones.h"

namespace mmeff {
namespace {

// Where one block's window lies: `channels` planes `channel_step` apart in the padded input,
// each `rows` rows of `width` elements `row_step` apart; the snapshot is (C, rows, width)
// contiguous.
struct WindowLayout {
  int64_t channels, channel_step, rows, row_step, width;
};

// Whether the L1 change of a window against its snapshot exceeds `limit`. The sum runs over
// channels in vector accumulators and is compared every kCheckEvery channels (all terms are
// >= 0, so a partial sum past the limit decides the block).
constexpr int64_t kCheckEvery = 4;

template <typename T, int W>
MMEFF_CPU_CLONES bool window_changed_fixed(const T* x, const T* s, const WindowLayout& l, T limit) {
  // Separate accumulators for the multiple-of-8 head and the tail of each row keep both in
  // registers (one array of W = 10 or 17 lanes gets spilled to the stack).
  constexpr int kHead = W / 8 * 8, kTail = W - kHead;
  T head[kHead > 0 ? kHead : 1] = {};
  T tail[kTail > 0 ? kTail : 1] = {};
  for (int64_t c = 0; c < l.channels; ++c, x += l.channel_step) {
    const T* row = x;
    for (int64_t r = 0; r < l.rows; ++r, row += l.row_step, s += W) {
#pragma omp simd
      for (int k = 0; k < kHead; ++k) head[k] += std::abs(row[k] - s[k]);
#pragma omp simd
      for (int k = 0; k < kTail; ++k) tail[k] += std::abs(row[kHead + k] - s[kHead + k]);
    }
    if (c % kCheckEvery == kCheckEvery - 1 || c + 1 == l.channels) {
      T change = 0;
      for (int k = 0; k < kHead; ++k) change += head[k];
      for (int k = 0; k < kTail; ++k) change += tail[k];
      if (change > limit) return true;
    }
  }
  return false;
}

template <typename T>
MMEFF_CPU_CLONES bool window_changed_any(const T* x, const T* s, const WindowLayout& l, T limit) {
  T change = 0;
  for (int64_t c = 0; c < l.channels; ++c, x += l.channel_step) {
    const T* row = x;
    for (int64_t r = 0; r < l.rows; ++r, row += l.row_step, s += l.width) {
#pragma omp simd reduction(+ : change)
      for (int64_t k = 0; k < l.width; ++k) change += std::abs(row[k] - s[k]);
    }
    if (change > limit) return true;
  }
  return false;
}

template <typename T>
using WindowChanged = bool (*)(const T*, const T*, const WindowLayout&, T);

// The loop for a window width: fixed-width ones for b in {2, 4, 8} with 1x1, 3x3 and strided
// 3x3 kernels, else the generic one.
template <typename T>
WindowChanged<T> window_changed_for(int64_t width) {
  switch (width) {
    case 4: return &window_changed_fixed<T, 4>;
    case 6: return &window_changed_fixed<T, 6>;
    case 8: return &window_changed_fixed<T, 8>;
    case 10: return &window_changed_fixed<T, 10>;
    case 17: return &window_changed_fixed<T, 17>;
    default: return &window_changed_any<T>;
  }
}

template <typename T>
struct Windows {
  const BlockWindowGeometry& g;
  const T* padded;  // (N, C, padded_h, padded_w), contiguous
  int64_t padded_h, padded_w;
  T* snapshots;
  WindowChanged<T> changed_fn;

  const T* window(int64_t block, int64_t c) const {
    const int64_t n = block / (g.blocks_h * g.blocks_w);
    const int64_t bi = block / g.blocks_w % g.blocks_h, bj = block % g.blocks_w;
    return padded + ((n * g.channels + c) * padded_h + bi * g.block * g.stride_h) * padded_w +
           bj * g.block * g.stride_w;
  }

  T* snapshot(int64_t block) const { return snapshots + block * g.window_size(); }

  // Whether the L1 change of `block`'s window exceeds `limit`.
  bool changed(int64_t block, T limit) const {
    const WindowLayout layout{g.channels, padded_h * padded_w, g.win_h, padded_w, g.win_w};
    return changed_fn(window(block, 0), snapshot(block), layout, limit);
  }

  // Copies `block`'s current window into its snapshot.
  void commit(int64_t block) const {
    const T* x = window(block, 0);
    T* s = snapshot(block);
    for (int64_t c = 0; c < g.channels; ++c) {
      const T* row = x + c * padded_h * padded_w;
      for (int64_t r = 0; r < g.win_h; ++r, row += padded_w, s += g.win_w) {
        std::memcpy(s, row, g.win_w * sizeof(T));
      }
    }
  }
};

// Grain of the parallel loops, in blocks: enough window elements per task to amortise it.
int64_t grain(const BlockWindowGeometry& g) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(g.window_size(), 1));
}

// The sum of n contiguous elements times 0: NaN exactly when one of them is NaN or Inf.
template <typename T>
MMEFF_CPU_CLONES T poison_of(const T* p, int64_t n) {
  T poison = 0;
#pragma omp simd reduction(+ : poison)
  for (int64_t k = 0; k < n; ++k) poison += p[k] * T(0);
  return poison;
}

// Copies `rows` rows of `cols` contiguous elements (strides in elements).
template <typename T>
MMEFF_CPU_CLONES void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride,
                                int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r, dst += dst_stride, src += src_stride) {
#pragma omp simd
    for (int64_t k = 0; k < cols; ++k) dst[k] = src[k];
  }
}

// The zero-padded input covering every block's window, (N, C, padded_h, padded_w)
// contiguous; rows or columns past the last window are left out. Every element of the input
// is checked on the way: NaN or Inf raises a ValueError before any state is touched.
template <typename T>
at::Tensor pad_for_windows(const at::Tensor& input, const BlockWindowGeometry& g) {
  const int64_t padded_h = (g.blocks_h - 1) * g.block * g.stride_h + g.win_h;
  const int64_t padded_w = (g.blocks_w - 1) * g.block * g.stride_w + g.win_w;
  at::Tensor padded = at::empty({g.batch, g.channels, padded_h, padded_w}, input.options());
  const T* x = input.const_data_ptr<T>();
  T* p = padded.mutable_data_ptr<T>();
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  // Input rows [0, rows) and columns [0, cols) land inside the padded plane at (top, left);
  // a padding wider than every window leaves no input inside at all.
  const int64_t top = std::min(g.pad_h, padded_h), left = std::min(g.pad_w, padded_w);
  const int64_t rows = std::clamp<int64_t>(padded_h - g.pad_h, 0, g.in_h);
  const int64_t cols = std::clamp<int64_t>(padded_w - g.pad_w, 0, g.in_w);
  const int64_t right = padded_w - left - cols;
  std::atomic<bool> finite{true};
  // Planes per task: enough elements to amortise a task (small maps run inline).
  const int64_t plane_grain = std::max<int64_t>(1, 65536 / (padded_h * padded_w));
  at::parallel_for(0, g.batch * g.channels, plane_grain, [&](int64_t begin, int64_t end) {
    T poison = 0;  // x * 0 is NaN exactly for NaN and Inf
    for (int64_t nc = begin; nc < end; ++nc) {
      const T* src = x + (nc / g.channels) * sn + (nc % g.channels) * sc;
      T* plane = p + nc * padded_h * padded_w;
      std::fill_n(plane, top * padded_w, T(0));
      std::fill_n(plane + (top + rows) * padded_w, (padded_h - top - rows) * padded_w, T(0));
      for (int64_t y = 0; y < rows; ++y) {
        T* row = plane + (top + y) * padded_w;
        std::fill_n(row, left, T(0));
        std::fill_n(row + left + cols, right, T(0));
      }
      T* first = plane + top * padded_w + left;
      if (sw == 1) {
        copy_rows(first, padded_w, src, sh, rows, cols);
      } else {
        for (int64_t y = 0; y < rows; ++y) {
          for (int64_t k = 0; k < cols; ++k) first[y * padded_w + k] = src[y * sh + k * sw];
        }
      }
      // The copied rows are checked in the padded plane (one contiguous run, zeros around);
      // input columns and rows no window reaches are checked in place.
      poison += poison_of(plane + top * padded_w, rows * padded_w);
      for (int64_t y = 0; y < g.in_h; ++y) {
        const int64_t from = y < rows ? cols : 0;
        for (int64_t k = from; k < g.in_w; ++k) poison += src[y * sh + k * sw] * T(0);
      }
    }
    if (poison != poison) finite = false;
  });
  TORCH_CHECK_VALUE(finite, "commit_changed_windows: the input contains NaN or Inf");
  return padded;
}

at::Tensor commit_changed_windows_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                      double limit, int64_t block_size,
                                      at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      double commit_all_above) {
  const BlockWindowGeometry g = check_commit_changed_windows_args(
      input, snapshots, limit, block_size, kernel_size, stride, padding, dilation,
      commit_all_above);
  const int64_t blocks = g.blocks();
  std::vector<uint8_t> fired(blocks, 0);

  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "commit_changed_windows_cpu", [&] {
    const at::Tensor padded = pad_for_windows<scalar_t>(input, g);
    const Windows<scalar_t> w{g,
                              padded.const_data_ptr<scalar_t>(),
                              padded.size(2),
                              padded.size(3),
                              snapshots.mutable_data_ptr<scalar_t>(),
                              window_changed_for<scalar_t>(g.win_w)};
    const scalar_t lim = static_cast<scalar_t>(limit);
    at::parallel_for(0, blocks, grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) fired[k] = w.changed(k, lim);
    });
    int64_t count = 0;
    for (uint8_t f : fired) count += f;
    if (count > 0 && static_cast<double>(count) >= commit_all_above * blocks) {
      std::fill(fired.begin(), fired.end(), 1);
    }
    if (count == 0) return;
    at::parallel_for(0, blocks, grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        if (fired[k]) w.commit(k);
      }
    });
  });

  at::Tensor mask = at::empty({g.batch, g.out_h, g.out_w}, input.options().dtype(at::kBool));
  bool* m = mask.data_ptr<bool>();
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t y = 0; y < g.out_h; ++y) {
      const uint8_t* f = fired.data() + (n * g.blocks_h + y / g.block) * g.blocks_w;
      bool* row = m + (n * g.out_h + y) * g.out_w;
      for (int64_t bj = 0; bj < g.blocks_w; ++bj) {
        const int64_t x0 = bj * g.block;
        std::memset(row + x0, f[bj], std::min(g.block, g.out_w - x0));
      }
    }
  }
  return mask;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("commit_changed_windows", &commit_changed_windows_cpu); }

}  // namespace mmeff
