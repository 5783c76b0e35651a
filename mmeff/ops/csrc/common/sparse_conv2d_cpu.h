// Declarations shared by the CPU kernel files of sparse_conv2d: the kernel arguments and the
// direct tile path (cpu/sparse_conv2d_tiles.cpp) that the driver (cpu/sparse_conv2d.cpp) uses
// for the fully computed 8 x 8 output tiles.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sparse_conv2d.h"

namespace mmeff {

template <typename T>
struct Conv2dArgs {
  Conv2dGeometry g;
  const T* input;   // NCHW or NHWC contiguous
  const T* weight;  // gather-GEMM path: NCHW (C_out, C_in/g, kh, kw), NHWC (C_out, kh, kw, C_in/g)
  const T* bias;    // (C_out) or nullptr
  T* out;
  int64_t out_sn, out_sc, out_sh, out_sw;  // strides of out, in elements

  T* out_at(int64_t n, int64_t c, int64_t y, int64_t x) const {
    return out + n * out_sn + c * out_sc + y * out_sh + x * out_sw;
  }
  T bias_at(int64_t c) const { return bias ? bias[c] : T(0); }
};

// Side of the square output tiles of the direct path; tiles are aligned to the output grid,
// like the b x b blocks that SkipConv gates select.
constexpr int64_t kTile = 8;

// Instruction-set levels of the direct tile path, lowest first.
enum class CpuKernelLevel : int64_t {
  kGatherGemm = 0,  // no tile kernel: every position goes through gather-GEMM-scatter
  kAvx2 = 1,        // AVX2 + FMA tile kernel (16 vector registers)
  kAvx512 = 2,      // AVX-512VL tile kernel (32 vector registers)
};

// The level the tile path runs at: the best this CPU supports, capped by the limit set with
// the op mmeff::_set_cpu_kernel_level (tests use it to exercise every level).
CpuKernelLevel cpu_kernel_level();

// One unit of work of the tile path: output tile (ty, tx) of image n, output channels
// [co_begin, co_end) (inside one group).
struct TileTask {
  int64_t n, ty, tx, co_begin, co_end;
  bool full;  // every output position of the tile that exists is selected by the mask
};

// Computes conv2d(input, weight, bias) at the selected positions of each task's tile (all
// positions when `full`) and writes them to `out`. float32 only; `weight` is accessed through
// its strides (w_strides: co, ci, kh, kw) so contiguous and channels_last weights need no copy.
// `mask` is the contiguous (N, H_out, W_out) mask. Runs the tasks on at::parallel_for.
void run_tile_tasks(const Conv2dArgs<float>& a, const int64_t w_strides[4], const bool* mask,
                    bool channels_last, const std::vector<TileTask>& tasks, CpuKernelLevel level);

// The CPU kernel of sparse_conv2d (checks its arguments itself).
void sparse_conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, const at::Tensor& mask,
                       const at::Tensor& out, at::IntArrayRef stride, at::IntArrayRef padding,
                       at::IntArrayRef dilation, int64_t groups);

}  // namespace mmeff
