// CPU kernel of cond_conv2d (see ../cond_conv2d.cpp for the contract).
//
// 1. Mix: mixed[b, p] = sum_e routing[b, e] * weight[e, p] for all B samples at once, the
//    (B, E) x (E, P) product. It reads E * P expert values and is bound by memory, so the P
//    columns are cut into chunks that stay in L1/L2 while all B rows are formed from them:
//    each expert value is read from memory once per call, whatever the batch. Chunks run in
//    parallel (at::parallel_for); the inner loops vectorise (MMEFF_CPU_CLONES).
// 2. Convolve: ATen's conv (oneDNN for float32) per sample, or one grouped conv over the
//    batch folded into the channels (cond_conv2d_forward in ../cond_conv2d.cpp). With
//    strategy "auto" the choice is automatic_strategy below.
#include "cond_conv2d.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "cpu_clones.h"

namespace mmeff {
namespace {

// Columns of the expert matrix mixed per task: E * 1024 values (32 KiB at E = 8, float32).
constexpr int64_t kMixChunk = 1024;

template <typename T>
__attribute__((always_inline)) inline void mix_columns_impl(const T* routing, const T* experts,
                                                            T* mixed, int64_t batch,
                                                            int64_t num_experts, int64_t columns,
                                                            int64_t begin, int64_t end) {
  for (int64_t b = 0; b < batch; ++b) {
    const T* r = routing + b * num_experts;
    T* out = mixed + b * columns;
    const T* w0 = experts;
    const T r0 = r[0];
    for (int64_t p = begin; p < end; ++p) out[p] = r0 * w0[p];
    for (int64_t e = 1; e < num_experts; ++e) {
      const T* w = experts + e * columns;
      const T re = r[e];
      for (int64_t p = begin; p < end; ++p) out[p] += re * w[p];
    }
  }
}

MMEFF_CPU_CLONES void mix_columns_f32(const float* routing, const float* experts, float* mixed,
                                      int64_t batch, int64_t num_experts, int64_t columns,
                                      int64_t begin, int64_t end) {
  mix_columns_impl(routing, experts, mixed, batch, num_experts, columns, begin, end);
}

MMEFF_CPU_CLONES void mix_columns_f64(const double* routing, const double* experts, double* mixed,
                                      int64_t batch, int64_t num_experts, int64_t columns,
                                      int64_t begin, int64_t end) {
  mix_columns_impl(routing, experts, mixed, batch, num_experts, columns, begin, end);
}

inline void mix_columns(const float* r, const float* w, float* out, int64_t batch, int64_t e,
                        int64_t columns, int64_t begin, int64_t end) {
  mix_columns_f32(r, w, out, batch, e, columns, begin, end);
}

inline void mix_columns(const double* r, const double* w, double* out, int64_t batch, int64_t e,
                        int64_t columns, int64_t begin, int64_t end) {
  mix_columns_f64(r, w, out, batch, e, columns, begin, end);
}

// (B, columns) = routing (B, E) x experts (E, columns); experts is contiguous.
at::Tensor mix(const at::Tensor& routing, const at::Tensor& experts, int64_t columns) {
  const int64_t batch = routing.size(0), num_experts = routing.size(1);
  at::Tensor mixed = at::empty({batch, columns}, experts.options());
  if (batch == 0) return mixed;
  const int64_t chunks = (columns + kMixChunk - 1) / kMixChunk;
  AT_DISPATCH_FLOATING_TYPES(experts.scalar_type(), "cond_conv2d_mix", [&] {
    const scalar_t* r = routing.const_data_ptr<scalar_t>();
    const scalar_t* w = experts.const_data_ptr<scalar_t>();
    scalar_t* out = mixed.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
      mix_columns(r, w, out, batch, num_experts, columns, first * kMixChunk,
                  std::min(columns, last * kMixChunk));
    });
  });
  return mixed;
}

// The "auto" strategy: one grouped conv over the batch at batch >= kGroupedFrom, per-sample
// convs below it (see docs/condconv.md for the measurement).
constexpr int64_t kGroupedFrom = 2;

CondConvStrategy automatic_strategy(const CondConvSizes& sizes) {
  return sizes.batch >= kGroupedFrom ? CondConvStrategy::kGrouped : CondConvStrategy::kPerSample;
}

at::Tensor cond_conv2d_cpu(const at::Tensor& x, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, const at::Tensor& routing,
                           at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, int64_t groups, c10::string_view strategy) {
  return cond_conv2d_forward(x, weight, bias, routing, stride, padding, dilation, groups, strategy,
                             &mix, &automatic_strategy);
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("cond_conv2d", &cond_conv2d_cpu); }

}  // namespace mmeff
