// CPU kernel of cond_conv2d (see ../cond_conv2d.cpp for the contract).
//
// 1. Mix: mixed[b, p] = sum_e routing[b, e] * weight[e, p] for all B samples at once, the
//    (B, E) x (E, P) product. It reads E * P expert values and is bound by memory. The P
//    columns are split among the threads (at::parallel_for, at least kMixColumnsPerThread
//    each); each thread forms all B rows of its columns with one single-threaded BLAS GEMM,
//    which reads each expert value once whatever the batch.
// 2. Convolve (cond_conv2d_forward in ../cond_conv2d.cpp): ATen's conv (oneDNN for float32)
//    per sample, one grouped conv over the batch folded into the channels, or for pointwise
//    convs one batched GEMM. With strategy "auto" the choice is automatic_strategy below.
#include "cond_conv2d.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "blas.h"

namespace mmeff {
namespace {

// Columns per thread at least: a mix of fewer columns (a depthwise kernel's E x 10k values)
// runs on the calling thread, where waking a second one would cost more than it saves.
constexpr int64_t kMixColumnsPerThread = 65536;

// (B, columns) = routing (B, E) x experts (E, columns); experts is contiguous.
at::Tensor mix(const at::Tensor& routing, const at::Tensor& experts, int64_t columns) {
  const int64_t batch = routing.size(0), num_experts = routing.size(1);
  at::Tensor mixed = at::empty({batch, columns}, experts.options());
  if (batch == 0) return mixed;
  AT_DISPATCH_FLOATING_TYPES(experts.scalar_type(), "cond_conv2d_mix", [&] {
    const scalar_t* r = routing.const_data_ptr<scalar_t>();
    const scalar_t* w = experts.const_data_ptr<scalar_t>();
    scalar_t* out = mixed.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, columns, kMixColumnsPerThread, [&](int64_t begin, int64_t end) {
      // column-major: mixed^T (columns x B) = experts^T (columns x E) * routing^T (E x B)
      blas::gemm<scalar_t>(false, false, end - begin, batch, num_experts, scalar_t(1), w + begin,
                           columns, r, num_experts, scalar_t(0), out + begin, columns);
    });
  });
  return mixed;
}

// The "auto" strategy (tools/benchmark_cond_conv2d.py, docs/condconv.md): at batch 1 the
// one conv; at batch > 1 a batched GEMM for pointwise convs and one grouped conv otherwise,
// both never slower than per-sample convs there.
CondConvStrategy automatic_strategy(const CondConvSizes& sizes) {
  if (sizes.batch == 1) return CondConvStrategy::kPerSample;
  return sizes.pointwise ? CondConvStrategy::kMatmul : CondConvStrategy::kGrouped;
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
