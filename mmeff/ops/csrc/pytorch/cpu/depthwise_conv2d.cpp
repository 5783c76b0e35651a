// CPU kernel of depthwise_conv2d (see ../depthwise_conv2d.cpp for the contract).
//
// Each (n, c) plane is computed on its own, planes in parallel, from stride phases with all
// taps of a vector of outputs summed in a register (../../common/depthwise_plane_cpu.h).
// Compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time (GCC target_clones).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "conv2d_geometry.h"
#include "cpu_clones.h"
#include "depthwise_plane_cpu.h"
#include "scratch_buffer.h"

namespace mmeff {
namespace {

template <typename scalar_t>
__attribute__((always_inline)) inline void plane_impl(const scalar_t* in, const scalar_t* weight,
                                                      scalar_t bias, scalar_t* out,
                                                      scalar_t* phases, scalar_t* acc,
                                                      const PlaneGeometry& g) {
  split_phases(in, phases, g, [](scalar_t v) { return v; });
  accumulate_taps(phases, weight, bias, acc, g);
  for (int64_t y = 0; y < g.out_h; ++y) {
    std::copy(acc + y * g.phase_w, acc + y * g.phase_w + g.out_w, out + y * g.out_w);
  }
}

MMEFF_CPU_CLONES void plane_f32(const float* in, const float* weight, float bias, float* out,
                                float* phases, float* acc, const PlaneGeometry& g) {
  plane_impl(in, weight, bias, out, phases, acc, g);
}

MMEFF_CPU_CLONES void plane_f64(const double* in, const double* weight, double bias, double* out,
                                double* phases, double* acc, const PlaneGeometry& g) {
  plane_impl(in, weight, bias, out, phases, acc, g);
}

inline void plane(const float* in, const float* w, float b, float* out, float* phases, float* acc,
                  const PlaneGeometry& g) {
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
  check_depthwise_conv_args(op, input, "weight", weight, "bias", bias, stride, padding, dilation);
  const Conv2dGeometry conv =
      conv2d_geometry(input, weight, stride, padding, dilation, input.size(1));
  TORCH_CHECK(conv.out_h > 0 && conv.out_w > 0, op, "x of shape ", input.sizes(),
              " is smaller than the (dilated) kernel");
  const PlaneGeometry g = plane_geometry(conv);

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
      scalar_t* phases = thread_scratch<scalar_t>(ScratchSlot::kPhases, g.phases_numel());
      scalar_t* acc = thread_scratch<scalar_t>(ScratchSlot::kAccumulator, g.span);
      for (int64_t p = begin; p < end; ++p) {
        const int64_t c = p % channels;
        plane(in + p * g.in_h * g.in_w, wt + c * taps, b ? b[c] : scalar_t(0),
              o + p * g.out_h * g.out_w, phases, acc, g);
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("depthwise_conv2d", &depthwise_conv2d_cpu); }

}  // namespace mmeff
