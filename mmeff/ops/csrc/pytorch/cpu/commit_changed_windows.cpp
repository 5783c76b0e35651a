// CPU kernel of commit_changed_windows (see ../commit_changed_windows.cpp for the contract).
//
// The input is first zero-padded into a contiguous NCHW copy that covers every window (and
// checked for NaN/Inf on the way), so each window is a plain (C, win_h, win_w) box of rows. Pass 1 decides every block in
// parallel: the L1 change of its window against its snapshot, summed channel by channel and
// stopped as soon as it exceeds the limit (at threshold 0 any changed pixel fires at once;
// unchanged blocks are read fully). Pass 2 copies the windows of the fired blocks into their
// snapshots; then the output mask is written. The row loops are compiled for AVX-512, AVX2 and
// baseline x86-64 and picked at load time (GCC target_clones); the usual window widths get
// fixed-width loops.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "commit_changed_windows.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MMEFF_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MMEFF_CPU_CLONES
#endif

namespace mmeff {
namespace {

// L1 change of one channel of a window: rows of W elements, `stride` apart in the padded input.
template <typename T, int W>
MMEFF_CPU_CLONES T window_change_fixed(const T* x, int64_t stride, const T* s, int64_t rows) {
  T acc[W] = {};
  for (int64_t r = 0; r < rows; ++r, x += stride, s += W) {
#pragma omp simd
    for (int k = 0; k < W; ++k) acc[k] += std::abs(x[k] - s[k]);
  }
  T change = 0;
  for (int k = 0; k < W; ++k) change += acc[k];
  return change;
}

template <typename T>
MMEFF_CPU_CLONES T window_change_any(const T* x, int64_t stride, const T* s, int64_t rows,
                                     int64_t width) {
  T change = 0;
  for (int64_t r = 0; r < rows; ++r, x += stride, s += width) {
#pragma omp simd reduction(+ : change)
    for (int64_t k = 0; k < width; ++k) change += std::abs(x[k] - s[k]);
  }
  return change;
}

template <typename T>
using ChannelChange = T (*)(const T*, int64_t, const T*, int64_t);

// The fixed-width loop for the window widths of b in {2, 4, 8} with 1x1, 3x3 and strided
// 3x3 kernels, or nullptr.
template <typename T>
ChannelChange<T> fixed_width_change(int64_t width) {
  switch (width) {
    case 4: return &window_change_fixed<T, 4>;
    case 6: return &window_change_fixed<T, 6>;
    case 8: return &window_change_fixed<T, 8>;
    case 10: return &window_change_fixed<T, 10>;
    case 17: return &window_change_fixed<T, 17>;
    default: return nullptr;
  }
}

template <typename T>
struct Windows {
  const BlockWindowGeometry& g;
  const T* padded;  // (N, C, padded_h, padded_w), contiguous
  int64_t padded_h, padded_w;
  T* snapshots;
  ChannelChange<T> fixed;

  const T* window(int64_t block, int64_t c) const {
    const int64_t n = block / (g.blocks_h * g.blocks_w);
    const int64_t bi = block / g.blocks_w % g.blocks_h, bj = block % g.blocks_w;
    return padded + ((n * g.channels + c) * padded_h + bi * g.block * g.stride_h) * padded_w +
           bj * g.block * g.stride_w;
  }

  T* snapshot(int64_t block) const { return snapshots + block * g.window_size(); }

  // Whether the L1 change of `block`'s window exceeds `limit`.
  bool changed(int64_t block, T limit) const {
    const T* x = window(block, 0);
    const T* s = snapshot(block);
    const int64_t channel_step = padded_h * padded_w, box = g.win_h * g.win_w;
    T change = 0;
    for (int64_t c = 0; c < g.channels; ++c, x += channel_step, s += box) {
      change += fixed ? fixed(x, padded_w, s, g.win_h)
                      : window_change_any(x, padded_w, s, g.win_h, g.win_w);
      if (change > limit) return true;
    }
    return false;
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
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(g.window_size(), 1));
}

// Copies n contiguous elements; returns the sum of src[k] * 0, which is NaN exactly when an
// element is NaN or Inf.
template <typename T>
MMEFF_CPU_CLONES T copy_checked(T* dst, const T* src, int64_t n) {
  T poison = 0;
#pragma omp simd reduction(+ : poison)
  for (int64_t k = 0; k < n; ++k) {
    dst[k] = src[k];
    poison += src[k] * T(0);
  }
  return poison;
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
  at::parallel_for(0, g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    T poison = 0;  // x * 0 is NaN exactly for NaN and Inf
    for (int64_t nc = begin; nc < end; ++nc) {
      const T* src = x + (nc / g.channels) * sn + (nc % g.channels) * sc;
      T* plane = p + nc * padded_h * padded_w;
      std::fill_n(plane, top * padded_w, T(0));
      std::fill_n(plane + (top + rows) * padded_w, (padded_h - top - rows) * padded_w, T(0));
      for (int64_t y = 0; y < g.in_h; ++y, src += sh) {
        if (y >= rows) {  // below every window: only checked
          for (int64_t k = 0; k < g.in_w; ++k) poison += src[k * sw] * T(0);
          continue;
        }
        T* row = plane + (top + y) * padded_w;
        std::fill_n(row, left, T(0));
        if (sw == 1 && cols == g.in_w) {
          poison += copy_checked(row + left, src, cols);
        } else {
          for (int64_t k = 0; k < g.in_w; ++k) poison += src[k * sw] * T(0);
          for (int64_t k = 0; k < cols; ++k) row[left + k] = src[k * sw];
        }
        std::fill_n(row + left + cols, right, T(0));
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
                              fixed_width_change<scalar_t>(g.win_w)};
    const scalar_t lim = static_cast<scalar_t>(limit);
    at::parallel_for(0, blocks, grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) fired[k] = w.changed(k, lim);
    });
    int64_t count = 0;
    for (uint8_t f : fired) count += f;
    if (count > 0 && static_cast<double>(count) >= commit_all_above * blocks) {
      std::fill(fired.begin(), fired.end(), 1);
    }
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
