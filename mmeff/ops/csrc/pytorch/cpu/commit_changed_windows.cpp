// CPU kernel of commit_changed_windows (see ../commit_changed_windows.cpp for the contract).
//
// Windows are read in place from the (contiguous NCHW) input: a window inside the input is a
// plain (C, win_h, win_w) box of rows; a window that reaches into the zero padding is read
// only where it overlaps the input, since the snapshots hold zeros there (the op's
// precondition, which block_input_windows and every commit keep). The input is first checked
// for NaN/Inf (nothing changes if it has any). Pass 1 decides every block in parallel: the L1
// change of its window against its snapshot, accumulated over channels in vector registers
// and compared with the limit every few channels (at threshold 0 a changed pixel fires within
// 4 channels; unchanged blocks are read fully). Pass 2 copies the windows of the fired blocks
// into their snapshots; then the output mask is written. The loops are compiled for AVX-512,
// AVX2 and baseline x86-64 and picked at load time (GCC target_clones); rows of up to 17
// elements (every window of b <= 8 with a 3x3 kernel) get loops of their fixed width.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "commit_changed_windows_cpu.h"
#include "cpu_clones.h"

namespace mmeff {
namespace {

// Where (the part inside the input of) one block's window lies: `channels` planes
// `channel_step` apart in the input, each `rows` rows of `width` elements `row_step` apart; in
// the snapshot, planes are `snap_channel_step` and rows `snap_row_step` apart.
struct WindowLayout {
  int64_t channels, channel_step, rows, row_step, width;
  int64_t snap_channel_step, snap_row_step;
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
  for (int64_t c = 0; c < l.channels; ++c, x += l.channel_step, s += l.snap_channel_step) {
    const T* row = x;
    const T* snap = s;
    for (int64_t r = 0; r < l.rows; ++r, row += l.row_step, snap += l.snap_row_step) {
#pragma omp simd
      for (int k = 0; k < kHead; ++k) head[k] += std::abs(row[k] - snap[k]);
#pragma omp simd
      for (int k = 0; k < kTail; ++k) tail[k] += std::abs(row[kHead + k] - snap[kHead + k]);
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
  for (int64_t c = 0; c < l.channels; ++c, x += l.channel_step, s += l.snap_channel_step) {
    const T* row = x;
    const T* snap = s;
    for (int64_t r = 0; r < l.rows; ++r, row += l.row_step, snap += l.snap_row_step) {
#pragma omp simd reduction(+ : change)
      for (int64_t k = 0; k < l.width; ++k) change += std::abs(row[k] - snap[k]);
    }
    if (change > limit) return true;
  }
  return false;
}

template <typename T>
using WindowChanged = bool (*)(const T*, const T*, const WindowLayout&, T);

// Rows up to this many elements wide get a loop of their fixed width.
constexpr int64_t kMaxFixedWidth = 17;

template <typename T, size_t... Widths>
constexpr std::array<WindowChanged<T>, sizeof...(Widths)> fixed_width_loops(
    std::index_sequence<Widths...>) {
  return {&window_changed_fixed<T, static_cast<int>(Widths) + 1>...};
}

// The loop for rows of `width` elements (the part of a window inside the input).
template <typename T>
WindowChanged<T> window_changed_for(int64_t width) {
  static const auto loops = fixed_width_loops<T>(std::make_index_sequence<kMaxFixedWidth>());
  return width >= 1 && width <= kMaxFixedWidth ? loops[width - 1] : &window_changed_any<T>;
}

// The part of a block's window that lies inside the input: rows [r0, r1) and columns
// [c0, c1) of image n, starting at (top, left) within the window.
struct WindowBox {
  int64_t n, r0, r1, c0, c1, top, left;
  bool empty() const { return r1 <= r0 || c1 <= c0; }
};

template <typename T>
struct Windows {
  const BlockWindowGeometry& g;
  const T* input;  // (N, C, H, W), contiguous
  T* snapshots;

  WindowBox box(int64_t block) const {
    const int64_t n = block / (g.blocks_h * g.blocks_w);
    const int64_t row0 = g.row0(block / g.blocks_w % g.blocks_h), col0 = g.col0(block % g.blocks_w);
    WindowBox b{n,
                std::max<int64_t>(row0, 0),
                std::min(row0 + g.win_h, g.in_h),
                std::max<int64_t>(col0, 0),
                std::min(col0 + g.win_w, g.in_w),
                0,
                0};
    b.top = b.r0 - row0;
    b.left = b.c0 - col0;
    return b;
  }

  const T* input_at(const WindowBox& b) const {
    return input + (b.n * g.channels * g.in_h + b.r0) * g.in_w + b.c0;
  }

  T* snapshot_at(int64_t block, const WindowBox& b) const {
    return snapshots + block * g.window_size() + b.top * g.win_w + b.left;
  }

  // Whether the L1 change of `block`'s window exceeds `limit` (outside the input both the
  // window and the snapshot are zero).
  bool changed(int64_t block, T limit) const {
    const WindowBox b = box(block);
    if (b.empty()) return false;
    const WindowLayout layout{g.channels,  g.in_h * g.in_w,   b.r1 - b.r0, g.in_w,
                              b.c1 - b.c0, g.win_h * g.win_w, g.win_w};
    return window_changed_for<T>(b.c1 - b.c0)(input_at(b), snapshot_at(block, b), layout, limit);
  }

  // Copies `block`'s current window into its snapshot (the zeros outside the input stay).
  void commit(int64_t block) const {
    const WindowBox b = box(block);
    if (b.empty()) return;
    const T* x = input_at(b);
    T* s = snapshot_at(block, b);
    const size_t bytes = (b.c1 - b.c0) * sizeof(T);
    for (int64_t c = 0; c < g.channels; ++c) {
      const T* row = x + c * g.in_h * g.in_w;
      T* snap = s + c * g.win_h * g.win_w;
      for (int64_t r = b.r0; r < b.r1; ++r, row += g.in_w, snap += g.win_w) {
        std::memcpy(snap, row, bytes);
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

// Raises a ValueError when the contiguous (N, C, H, W) input holds NaN or Inf.
template <typename T>
void check_finite(const T* x, const BlockWindowGeometry& g) {
  const int64_t plane = g.in_h * g.in_w;
  std::atomic<bool> finite{true};
  if (plane == 0) return;  // an empty input holds nothing to check (and no plane to divide by)
  at::parallel_for(0, g.batch * g.channels, std::max<int64_t>(1, 65536 / plane),
                   [&](int64_t begin, int64_t end) {
                     const T poison = poison_of(x + begin * plane, (end - begin) * plane);
                     if (poison != poison) finite = false;  // x * 0 is NaN for NaN and Inf
                   });
  TORCH_CHECK_VALUE(finite, "commit_changed_windows: the input contains NaN or Inf");
}

}  // namespace

std::vector<uint8_t> commit_changed_blocks_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                               const BlockWindowGeometry& g, double limit,
                                               double commit_all_above,
                                               const BlockFlagsVisitor& before_commit) {
  const int64_t blocks = g.blocks();
  std::vector<uint8_t> fired(blocks, 0);
  const at::Tensor x = input.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "commit_changed_windows_cpu", [&] {
    check_finite(x.const_data_ptr<scalar_t>(), g);
    const Windows<scalar_t> w{g, x.const_data_ptr<scalar_t>(),
                              snapshots.mutable_data_ptr<scalar_t>()};
    const scalar_t lim = static_cast<scalar_t>(limit);
    at::parallel_for(0, blocks, grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) fired[k] = w.changed(k, lim);
    });
    int64_t count = 0;
    for (uint8_t f : fired) count += f;
    if (count > 0 && static_cast<double>(count) >= commit_all_above * blocks) {
      std::fill(fired.begin(), fired.end(), 1);
    }
    if (before_commit) before_commit(fired);
    if (count == 0) return;
    at::parallel_for(0, blocks, grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        if (fired[k]) w.commit(k);
      }
    });
  });
  return fired;
}

int64_t write_block_mask(const std::vector<uint8_t>& fired, const BlockWindowGeometry& g,
                         bool* mask) {
  int64_t positions = 0;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t y = 0; y < g.out_h; ++y) {
      const uint8_t* f = fired.data() + (n * g.blocks_h + y / g.block) * g.blocks_w;
      bool* row = mask + (n * g.out_h + y) * g.out_w;
      for (int64_t bj = 0; bj < g.blocks_w; ++bj) {
        const int64_t x0 = bj * g.block, len = std::min(g.block, g.out_w - x0);
        std::memset(row + x0, f[bj], len);
        positions += f[bj] ? len : 0;
      }
    }
  }
  return positions;
}

namespace {

at::Tensor commit_changed_windows_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                      double limit, int64_t block_size, at::IntArrayRef kernel_size,
                                      at::IntArrayRef stride, at::IntArrayRef padding,
                                      at::IntArrayRef dilation, double commit_all_above) {
  const BlockWindowGeometry g =
      check_commit_changed_windows_args("commit_changed_windows: ", input, snapshots, block_size,
                                        kernel_size, stride, padding, dilation);
  const std::vector<uint8_t> fired =
      commit_changed_blocks_cpu(input, snapshots, g, limit, commit_all_above);
  at::Tensor mask = at::empty({g.batch, g.out_h, g.out_w}, input.options().dtype(at::kBool));
  write_block_mask(fired, g, mask.data_ptr<bool>());
  return mask;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("commit_changed_windows", &commit_changed_windows_cpu); }

}  // namespace mmeff
