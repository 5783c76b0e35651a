// CPU kernel of stem_conv2d (see ../stem_conv2d.cpp for the contract).
//
// Per sample, every input plane is split once into stride phases
// (../../common/depthwise_plane_cpu.h) while its finiteness is summed; then every output
// channel, in parallel, sums C_in * kh * kw taps per vector of outputs in registers (each tap
// reads one phase plane at a fixed offset), applies the bias and the activation and keeps the
// valid columns. Compiled for AVX-512, AVX2 and baseline x86-64 (GCC target_clones).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "activation_cpu.h"
#include "conv2d_geometry.h"
#include "cpu_clones.h"
#include "depthwise_plane_cpu.h"
#include "scratch_buffer.h"

namespace mmeff {
namespace {

constexpr const char* kOp = "stem_conv2d: ";
constexpr int64_t kMaxInChannels = 8;

// x * 0 summed over a plane: NaN if the plane holds a NaN or an Inf, else 0.
template <typename scalar_t>
__attribute__((always_inline)) inline scalar_t finiteness_impl(const scalar_t* in, int64_t n) {
  scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += in[i] * scalar_t(0);
  return sum;
}

MMEFF_CPU_CLONES float finiteness(const float* in, int64_t n) { return finiteness_impl(in, n); }
MMEFF_CPU_CLONES double finiteness(const double* in, int64_t n) { return finiteness_impl(in, n); }

MMEFF_CPU_CLONES void split(const float* in, float* phases, const PlaneGeometry& g) {
  split_phases(in, phases, g, [](float v) { return v; });
}
MMEFF_CPU_CLONES void split(const double* in, double* phases, const PlaneGeometry& g) {
  split_phases(in, phases, g, [](double v) { return v; });
}

// One output plane: acc = bias + sum over input channels and taps; then act, valid columns.
template <Activation act, typename scalar_t>
__attribute__((always_inline)) inline void output_plane_impl(const scalar_t* phases,
                                                             int64_t in_channels,
                                                             const scalar_t* weight, scalar_t bias,
                                                             scalar_t* acc, scalar_t* out,
                                                             const PlaneGeometry& g) {
  using Vec = typename VectorOf<scalar_t>::type;
  constexpr int64_t lanes = sizeof(Vec) / sizeof(scalar_t);
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t* offsets = g.tap_offsets.data();
  const int64_t plane = g.phases_numel();
  int64_t j = 0;
  for (; j + 2 * lanes <= g.span; j += 2 * lanes) {
    Vec s0 = Vec{} + bias, s1 = s0;
    for (int64_t c = 0; c < in_channels; ++c) {
      const scalar_t* base = phases + c * plane + j;
      const scalar_t* w = weight + c * taps;
      for (int64_t t = 0; t < taps; ++t) {
        Vec v0, v1;
        std::memcpy(&v0, base + offsets[t], sizeof(Vec));
        std::memcpy(&v1, base + offsets[t] + lanes, sizeof(Vec));
        s0 += w[t] * v0;
        s1 += w[t] * v1;
      }
    }
    std::memcpy(acc + j, &s0, sizeof(Vec));
    std::memcpy(acc + j + lanes, &s1, sizeof(Vec));
  }
  for (; j < g.span; j += lanes) {
    Vec sum = Vec{} + bias;
    for (int64_t c = 0; c < in_channels; ++c) {
      const scalar_t* base = phases + c * plane + j;
      const scalar_t* w = weight + c * taps;
      for (int64_t t = 0; t < taps; ++t) {
        Vec v;
        std::memcpy(&v, base + offsets[t], sizeof(Vec));
        sum += w[t] * v;
      }
    }
    std::memcpy(acc + j, &sum, sizeof(Vec));
  }
#pragma omp simd
  for (int64_t q = 0; q < g.span; ++q) acc[q] = activate<act>(acc[q]);
  for (int64_t y = 0; y < g.out_h; ++y) {
    std::copy(acc + y * g.phase_w, acc + y * g.phase_w + g.out_w, out + y * g.out_w);
  }
}

template <typename scalar_t>
__attribute__((always_inline)) inline void output_plane_dispatch(
    Activation act, const scalar_t* phases, int64_t in_channels, const scalar_t* weight,
    scalar_t bias, scalar_t* acc, scalar_t* out, const PlaneGeometry& g) {
  switch (act) {
    case Activation::kRelu:
      return output_plane_impl<Activation::kRelu>(phases, in_channels, weight, bias, acc, out, g);
    case Activation::kHardSwish:
      return output_plane_impl<Activation::kHardSwish>(phases, in_channels, weight, bias, acc, out,
                                                       g);
    default:
      return output_plane_impl<Activation::kIdentity>(phases, in_channels, weight, bias, acc, out,
                                                      g);
  }
}

MMEFF_CPU_CLONES void output_plane(Activation act, const float* phases, int64_t in_channels,
                                   const float* weight, float bias, float* acc, float* out,
                                   const PlaneGeometry& g) {
  output_plane_dispatch(act, phases, in_channels, weight, bias, acc, out, g);
}

MMEFF_CPU_CLONES void output_plane(Activation act, const double* phases, int64_t in_channels,
                                   const double* weight, double bias, double* acc, double* out,
                                   const PlaneGeometry& g) {
  output_plane_dispatch(act, phases, in_channels, weight, bias, acc, out, g);
}

at::Tensor stem_conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                           at::IntArrayRef padding, c10::string_view activation,
                           bool check_finite) {
  TORCH_CHECK(input.dim() == 4, kOp, "x must be 4-D (N, C, H, W), got shape ", input.sizes());
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, kOp,
              "x must be float32 or float64, got ", input.scalar_type());
  const int64_t n = input.size(0), in_channels = input.size(1);
  TORCH_CHECK(in_channels >= 1 && in_channels <= kMaxInChannels, kOp, "x must have 1 to ",
              kMaxInChannels, " channels, got ", in_channels);
  TORCH_CHECK(weight.dim() == 4 && weight.size(1) == in_channels, kOp,
              "weight must have shape (C_out, ", in_channels, ", kh, kw), got ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type() && weight.device() == input.device(), kOp,
              "weight must be ", input.scalar_type(), " on ", input.device());
  const int64_t out_channels = weight.size(0);
  if (bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_channels, kOp, "bias must have shape (",
                out_channels, ",), got ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == input.scalar_type() && bias->device() == input.device(), kOp,
                "bias must be ", input.scalar_type(), " on ", input.device());
  }
  for (auto [values, name, least] :
       {std::tuple{stride, "stride", 1}, std::tuple{padding, "padding", 0}}) {
    TORCH_CHECK(values.size() == 2, kOp, name, " must have 2 values (h, w), got ", values.size());
    TORCH_CHECK(values[0] >= least && values[1] >= least, kOp, name, " must be >= ", least,
                ", got ", values);
  }
  const Activation act = parse_activation(kOp, std::string(activation), "activation");
  const int64_t unit[2] = {1, 1};
  const Conv2dGeometry conv = conv2d_geometry(input, weight, stride, padding, unit, 1);
  TORCH_CHECK(conv.out_h > 0 && conv.out_w > 0, kOp, "x of shape ", input.sizes(),
              " is smaller than the kernel");
  const PlaneGeometry g = plane_geometry(conv);
  const int64_t in_size = g.in_h * g.in_w, out_size = g.out_h * g.out_w;

  const at::Tensor x = input.contiguous(), w = weight.contiguous();
  const at::Tensor b = bias ? bias->contiguous() : at::Tensor();
  at::Tensor out = at::empty({n, out_channels, g.out_h, g.out_w}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "stem_conv2d_cpu", [&] {
    using T = scalar_t;
    std::unique_ptr<T[]> phases(new T[in_channels * g.phases_numel()]);
    for (int64_t s = 0; s < n; ++s) {
      const T* frame = x.const_data_ptr<T>() + s * in_channels * in_size;
      T bad = 0;
      for (int64_t c = 0; c < in_channels; ++c) {
        if (check_finite) bad += finiteness(frame + c * in_size, in_size);
        split(frame + c * in_size, phases.get() + c * g.phases_numel(), g);
      }
      TORCH_CHECK_VALUE(bad == bad,
                        "the input contains NaN or Inf; it was rejected and the "
                        "stream's state is unchanged");
      T* o = out.mutable_data_ptr<T>() + s * out_channels * out_size;
      const int64_t chunk =
          std::max<int64_t>(1, (out_channels + at::get_num_threads() - 1) / at::get_num_threads());
      at::parallel_for(0, out_channels, chunk, [&](int64_t begin, int64_t end) {
        T* acc = thread_scratch<T>(ScratchSlot::kAccumulator, g.span);
        for (int64_t oc = begin; oc < end; ++oc) {
          output_plane(act, phases.get(), in_channels,
                       w.const_data_ptr<T>() + oc * in_channels * g.kernel_h * g.kernel_w,
                       b.defined() ? b.const_data_ptr<T>()[oc] : T(0), acc, o + oc * out_size, g);
        }
      });
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("stem_conv2d", &stem_conv2d_cpu); }

}  // namespace mmeff
