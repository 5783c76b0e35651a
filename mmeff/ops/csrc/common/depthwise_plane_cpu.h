// One channel plane of a depthwise 2-D convolution on the CPU, from stride phases; shared by the
// depthwise_conv2d and movinet_block_frame kernels.
//
// The plane is first copied, zero-padded, into stride_h x stride_w phase planes (phase (a, b)
// holds the padded pixels (a + stride_h i, b + stride_w j)), so that every tap (ky, kx) of the
// kernel reads one phase plane at a fixed offset, and the output is, over j (the output rows at
// the phase-row pitch),
//     acc[j] = bias + sum over taps of w[ky, kx] * phase[j + offset(ky, kx)]
// one vector of j at a time in a register: contiguous FMAs even for 6x6 maps and stride 2. The
// columns beyond the output width are computed and dropped (output row y starts at
// acc[y * phase_w]). Include from a translation unit whose callers are compiled per instruction
// set (MMEFF_CPU_CLONES): everything here is inline.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>
#include <vector>

#include "conv2d_geometry.h"

namespace mmeff {

struct PlaneGeometry : Conv2dGeometry {
  // phase planes: phase_h rows of pitch phase_w, phase_size elements apart (with slack);
  // the tap loops run over `span` accumulators, out_h * phase_w rounded up to whole vectors
  int64_t phase_h, phase_w, phase_size, span;
  std::vector<int64_t> tap_offsets;  // tap ky * kernel_w + kx reads the phases from here on

  int64_t phases_numel() const { return stride_h * stride_w * phase_size; }
};

// Argument checks of a depthwise conv2d(input (N, C, H, W), weight (C, 1, kh, kw), bias (C,))
// of floating dtype; errors start with `op` and call the weight and the bias `weight_name` and
// `bias_name` (the Python parameter names).
inline void check_depthwise_conv_args(const char* op, const at::Tensor& input,
                                      const char* weight_name, const at::Tensor& weight,
                                      const char* bias_name, const std::optional<at::Tensor>& bias,
                                      at::IntArrayRef stride, at::IntArrayRef padding,
                                      at::IntArrayRef dilation) {
  TORCH_CHECK(input.dim() == 4, op, "x must be 4-D (N, C, H, W), got shape ", input.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == input.size(1) && weight.size(1) == 1, op,
              weight_name, " must have shape (C, 1, kh, kw) with C = ", input.size(1),
              " channels, got ", weight.sizes());
  for (auto [values, name, least] :
       {std::tuple{stride, "stride", 1}, std::tuple{padding, "padding", 0},
        std::tuple{dilation, "dilation", 1}}) {
    TORCH_CHECK(values.size() == 2, op, name, " must have 2 values (h, w), got ", values.size());
    TORCH_CHECK(values[0] >= least && values[1] >= least, op, name, " must be >= ", least, ", got ",
                values);
  }
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, op,
              "x must be float32 or float64, got ", input.scalar_type());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), op, weight_name, " dtype ",
              weight.scalar_type(), " differs from x dtype ", input.scalar_type());
  if (bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == input.size(1), op, bias_name,
                " must have shape (C,) with C = ", input.size(1), ", got ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), op, bias_name, " dtype ",
                bias->scalar_type(), " differs from x dtype ", input.scalar_type());
  }
}

// The plane geometry of a depthwise conv whose 2-D geometry (output size > 0) is `conv`.
inline PlaneGeometry plane_geometry(const Conv2dGeometry& conv) {
  PlaneGeometry g;
  static_cast<Conv2dGeometry&>(g) = conv;
  const int64_t padded_h = g.in_h + 2 * g.pad_h, padded_w = g.in_w + 2 * g.pad_w;
  const int64_t span_w = (g.kernel_w - 1) * g.dil_w + 1;
  g.phase_h = (padded_h + g.stride_h - 1) / g.stride_h;
  g.phase_w = (padded_w + g.stride_w - 1) / g.stride_w;
  // whole vectors: no scalar remainder loops on small maps; the dropped accumulators read up
  // to (kernel_w - 1) dil_w / stride_w + kVector elements past the last phase row
  constexpr int64_t kVector = 16;
  g.span = (g.out_h * g.phase_w + kVector - 1) / kVector * kVector;
  g.phase_size = g.phase_h * g.phase_w + span_w + kVector;
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      const int64_t dy = ky * g.dil_h, dx = kx * g.dil_w;
      g.tap_offsets.push_back(((dy % g.stride_h) * g.stride_w + dx % g.stride_w) * g.phase_size +
                              (dy / g.stride_h) * g.phase_w + dx / g.stride_w);
    }
  }
  return g;
}

// 64-byte vectors (GCC vector extensions; lowered to the instruction set of each clone).
template <typename scalar_t>
struct VectorOf;
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(64)));
};

// Fills the phase planes (phases_numel() elements) with f(in), zero-padded. Phases are tracked
// incrementally: no integer division per row. The padding stays 0 whatever f is.
template <typename scalar_t, typename Map>
__attribute__((always_inline)) inline void split_phases(const scalar_t* in, scalar_t* phases,
                                                        const PlaneGeometry& g, Map f) {
  std::fill(phases, phases + g.phases_numel(), scalar_t(0));
  for (int64_t b = 0; b < g.stride_w; ++b) {
    // the input columns x whose padded column x + pad_w lies in column phase b
    const int64_t x0 = ((b - g.pad_w) % g.stride_w + g.stride_w) % g.stride_w;
    const int64_t count = (g.in_w - x0 + g.stride_w - 1) / g.stride_w;
    const int64_t column = (x0 + g.pad_w) / g.stride_w;
    int64_t a = g.pad_h % g.stride_h, i = g.pad_h / g.stride_h;  // phase row of input row 0
    for (int64_t y = 0; y < g.in_h; ++y) {
      const scalar_t* row = in + y * g.in_w + x0;
      scalar_t* dst = phases + (a * g.stride_w + b) * g.phase_size + i * g.phase_w + column;
      if (g.stride_w == 1) {
        for (int64_t k = 0; k < count; ++k) dst[k] = f(row[k]);
      } else if (g.stride_w == 2) {  // a constant stride the compiler vectorises
        for (int64_t k = 0; k < count; ++k) dst[k] = f(row[2 * k]);
      } else {
        for (int64_t k = 0; k < count; ++k) dst[k] = f(row[g.stride_w * k]);
      }
      if (++a == g.stride_h) {
        a = 0;
        ++i;
      }
    }
  }
}

// acc[0, span) = bias + the taps over the phase planes (see the top of this file). Four vectors
// of outputs at a time, so that four independent FMA chains hide the FMA latency.
template <typename scalar_t>
__attribute__((always_inline)) inline void accumulate_taps(const scalar_t* phases,
                                                           const scalar_t* weight, scalar_t bias,
                                                           scalar_t* acc, const PlaneGeometry& g) {
  using Vec = typename VectorOf<scalar_t>::type;
  constexpr int64_t lanes = sizeof(Vec) / sizeof(scalar_t);
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t* offsets = g.tap_offsets.data();
  int64_t j = 0;
  for (; j + 4 * lanes <= g.span; j += 4 * lanes) {
    Vec s0 = Vec{} + bias, s1 = s0, s2 = s0, s3 = s0;
    for (int64_t t = 0; t < taps; ++t) {
      const scalar_t* p = phases + offsets[t] + j;
      Vec v0, v1, v2, v3;
      std::memcpy(&v0, p, sizeof(Vec));
      std::memcpy(&v1, p + lanes, sizeof(Vec));
      std::memcpy(&v2, p + 2 * lanes, sizeof(Vec));
      std::memcpy(&v3, p + 3 * lanes, sizeof(Vec));
      const scalar_t w = weight[t];
      s0 += w * v0;
      s1 += w * v1;
      s2 += w * v2;
      s3 += w * v3;
    }
    std::memcpy(acc + j, &s0, sizeof(Vec));
    std::memcpy(acc + j + lanes, &s1, sizeof(Vec));
    std::memcpy(acc + j + 2 * lanes, &s2, sizeof(Vec));
    std::memcpy(acc + j + 3 * lanes, &s3, sizeof(Vec));
  }
  for (; j < g.span; j += lanes) {
    Vec sum = Vec{} + bias;
    for (int64_t t = 0; t < taps; ++t) {
      Vec v;
      std::memcpy(&v, phases + offsets[t] + j, sizeof(Vec));
      sum += weight[t] * v;
    }
    std::memcpy(acc + j, &sum, sizeof(Vec));
  }
}

}  // namespace mmeff
