// CPU kernel of cond_conv2d (see ../cond_conv2d.cpp for the contract).
//
// 1. Mix: mixed[b, p] = sum_e routing[b, e] * weight[e, p] for all B samples at once, the
//    (B, E) x (E, P) product. It reads E * P expert values and is bound by memory, so the P
//    columns are cut into chunks of kMixChunk, each one single-threaded BLAS GEMM that forms
//    all B rows while the chunk is in cache: each expert value is read from memory once per
//    call, whatever the batch. Chunks run in parallel (at::parallel_for) when there are
//    enough of them (kMixChunksPerTask).
// 2. Convolve (cond_conv2d_forward in ../cond_conv2d.cpp): ATen's conv (oneDNN for float32)
//    per sample, one grouped conv over the batch folded into the channels, or for pointwise
//    convs one batched GEMM. With strategy "auto" the choice is automatic_strategy below.
#include "cond_conv2d.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "blas.h"

namespace mmeff {
namespace {

// Columns of the expert matrix mixed per GEMM: E * 4096 values (128 KiB at E = 8, float32).
constexpr int64_t kMixChunk = 4096;
// Chunks per thread at least: a mix of fewer columns (a depthwise kernel's E x 10k values)
// runs on the calling thread, where waking a second one would cost more than it saves.
constexpr int64_t kMixChunksPerTask = 16;

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
    at::parallel_for(0, chunks, kMixChunksPerTask, [&](int64_t first, int64_t last) {
      const int64_t begin = first * kMixChunk, end = std::min(columns, last * kMixChunk);
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
