// CPU kernel of depthwise_conv2d (see ../depthwise_conv2d.cpp for the contract).
//
// Each (n, c) plane is computed on its own, planes in parallel. The plane is first copied,
// zero-padded, into stride_h x stride_w phase planes (phase (a, b) holds the padded pixels
// (a + stride_h i, b + stride_w j)), so that every tap (ky, kx) of the kernel reads one phase
// plane at a fixed offset, and the output is, over j (the output rows at the phase-row pitch),
//     acc[j] = bias + sum over taps of w[ky, kx] * phase[j + offset(ky, kx)]
// one vector of j at a time in a register: contiguous FMAs even for 6x6 maps and stride 2.
// The columns beyond the output width are computed and dropped. Compiled for AVX-512, AVX2 and baseline x86-64 and picked at
// load time (GCC target_clones).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d_geometry.h"
#include "cpu_clones.h"

namespace mmeff {
namespace {

struct PlaneGeometry : Conv2dGeometry {
  // phase planes: phase_h rows of pitch phase_w, phase_size elements apart (with slack);
  // the tap loops run over `span` accumulators, out_h * phase_w rounded up to whole vectors
  int64_t phase_h, phase_w, phase_size, span;
  const int64_t* tap_offsets;  // tap ky * kernel_w + kx reads the phases from this element on
};

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

// Fills the phase planes of one input plane (buffer of stride_h * stride_w * phase_size).
// Phases are tracked incrementally: no integer division per row.
template <typename scalar_t>
inline void split_phases(const scalar_t* in, scalar_t* phases, const PlaneGeometry& g) {
  std::fill(phases, phases + g.stride_h * g.stride_w * g.phase_size, scalar_t(0));
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
        std::copy(row, row + count, dst);
      } else if (g.stride_w == 2) {  // a constant stride the compiler vectorises
        for (int64_t k = 0; k < count; ++k) dst[k] = row[2 * k];
      } else {
        for (int64_t k = 0; k < count; ++k) dst[k] = row[g.stride_w * k];
      }
      if (++a == g.stride_h) {
        a = 0;
        ++i;
      }
    }
  }
}

template <typename scalar_t>
__attribute__((always_inline)) inline void plane_impl(const scalar_t* in, const scalar_t* weight,
                                                      scalar_t bias, scalar_t* out,
                                                      scalar_t* phases, scalar_t* acc,
                                                      const PlaneGeometry& g) {
  split_phases(in, phases, g);
  // one vector of accumulators at a time, summed over all taps in a register
  using Vec = typename VectorOf<scalar_t>::type;
  constexpr int64_t lanes = sizeof(Vec) / sizeof(scalar_t);
  const int64_t taps = g.kernel_h * g.kernel_w;
  for (int64_t j = 0; j < g.span; j += lanes) {
    Vec sum = Vec{} + bias;
    for (int64_t t = 0; t < taps; ++t) {
      Vec v;
      std::memcpy(&v, phases + g.tap_offsets[t] + j, sizeof(Vec));
      sum += weight[t] * v;
    }
    std::memcpy(acc + j, &sum, sizeof(Vec));
  }
  for (int64_t y = 0; y < g.out_h; ++y) {
    std::copy(acc + y * g.phase_w, acc + y * g.phase_w + g.out_w, out + y * g.out_w);
  }
}

MMEFF_CPU_CLONES void plane_f32(const float* in, const float* weight, float bias, float* out,
                                float* phases, float* acc, const PlaneGeometry& g) {
  plane_impl(in, weight, bias, out, phases, acc, g);
}

MMEFF_CPU_CLONES void plane_f64(const double* in, const double* weight, double bias,
                                double* out, double* phases, double* acc,
                                const PlaneGeometry& g) {
  plane_impl(in, weight, bias, out, phases, acc, g);
}

inline void plane(const float* in, const float* w, float b, float* out, float* phases,
                  float* acc, const PlaneGeometry& g) {
  plane_f32(in, w, b, out, phases, acc, g);
}

inline void plane(const double* in, const double* w, double b, double* out, double* phases,
                  double* acc, const PlaneGeometry& g) {
  plane_f64(in, w, b, out, phases, acc, g);
}

at::Tensor depthwise_conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation) {
  const char* op = "depthwise_conv2d: ";
  TORCH_CHECK(input.dim() == 4, op, "input must be 4-D (N, C, H, W), got shape ", input.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == input.size(1) && weight.size(1) == 1, op,
              "weight must have shape (C, 1, kh, kw) with C = ", input.size(1),
              " input channels, got ", weight.sizes());
  for (auto [values, name, least] :
       {std::tuple{stride, "stride", 1}, std::tuple{padding, "padding", 0},
        std::tuple{dilation, "dilation", 1}}) {
    TORCH_CHECK(values.size() == 2, op, name, " must have 2 values (h, w), got ", values.size());
    TORCH_CHECK(values[0] >= least && values[1] >= least, op, name, " must be >= ", least,
                ", got ", values);
  }
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, op,
              "input must be float32 or float64, got ", input.scalar_type());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), op, "weight dtype ",
              weight.scalar_type(), " differs from input dtype ", input.scalar_type());
  if (bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == input.size(1), op,
                "bias must have shape (C,) with C = ", input.size(1), ", got ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), op, "bias dtype ",
                bias->scalar_type(), " differs from input dtype ", input.scalar_type());
  }
  PlaneGeometry g;
  static_cast<Conv2dGeometry&>(g) =
      conv2d_geometry(input, weight, stride, padding, dilation, input.size(1));
  TORCH_CHECK(g.out_h > 0 && g.out_w > 0, op, "input of shape ", input.sizes(),
              " is smaller than the (dilated) kernel");
  const int64_t padded_h = g.in_h + 2 * g.pad_h, padded_w = g.in_w + 2 * g.pad_w;
  const int64_t span_w = (g.kernel_w - 1) * g.dil_w + 1;
  g.phase_h = (padded_h + g.stride_h - 1) / g.stride_h;
  g.phase_w = (padded_w + g.stride_w - 1) / g.stride_w;
  // whole vectors: no scalar remainder loops on small maps; the dropped accumulators read up
  // to (kernel_w - 1) dil_w / stride_w + kVector elements past the last phase row
  constexpr int64_t kVector = 16;
  g.span = (g.out_h * g.phase_w + kVector - 1) / kVector * kVector;
  g.phase_size = g.phase_h * g.phase_w + span_w + kVector;
  std::vector<int64_t> tap_offsets;
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      const int64_t dy = ky * g.dil_h, dx = kx * g.dil_w;
      tap_offsets.push_back(((dy % g.stride_h) * g.stride_w + dx % g.stride_w) * g.phase_size +
                            (dy / g.stride_h) * g.phase_w + dx / g.stride_w);
    }
  }
  g.tap_offsets = tap_offsets.data();

  const at::Tensor x = input.contiguous();
  const at::Tensor w = weight.contiguous();
  const at::Tensor b_c = bias ? bias->contiguous() : at::Tensor();
  at::Tensor out = at::empty({input.size(0), input.size(1), g.out_h, g.out_w}, x.options());
  const int64_t planes = input.size(0) * input.size(1);
  const int64_t work = g.span * g.kernel_h * g.kernel_w;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(work, 1));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "depthwise_conv2d_cpu", [&] {
    const scalar_t* in = x.const_data_ptr<scalar_t>();
    const scalar_t* wt = w.const_data_ptr<scalar_t>();
    const scalar_t* b = bias ? b_c.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    const int64_t channels = input.size(1), taps = g.kernel_h * g.kernel_w;
    at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> phases(g.stride_h * g.stride_w * g.phase_size);
      std::vector<scalar_t> acc(g.span);
      for (int64_t p = begin; p < end; ++p) {
        const int64_t c = p % channels;
        plane(in + p * g.in_h * g.in_w, wt + c * taps, b ? b[c] : scalar_t(0),
              o + p * g.out_h * g.out_w, phases.data(), acc.data(), g);
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("depthwise_conv2d", &depthwise_conv2d_cpu); }

}  // namespace mmeff
