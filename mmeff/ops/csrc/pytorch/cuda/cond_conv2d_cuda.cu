// CUDA kernel of cond_conv2d (see ../cond_conv2d.cpp for the contract).
//
// 1. Mix: one thread per (sample b, kernel element p) sums routing[b, e] * weight[e, p] over
//    the E experts; neighbouring threads read neighbouring p, so the expert rows are read
//    coalesced. The biases are mixed the same way.
// 2. Convolve: cuDNN through ATen (cond_conv2d_forward in ../cond_conv2d.cpp). With strategy "auto"
//    it is one grouped conv over the batch folded into the channels: one launch whatever the
//    batch, where per-sample convs would cost a launch each.
// c10 headers only: ATen/cuda/CUDAContext.h pulls in cuSPARSE/cuBLAS headers that a minimal
// CUDA toolkit lacks.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "cond_conv2d.h"

namespace mmeff {
namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = 65535;

template <typename T>
__global__ void mix_experts_kernel(const T* __restrict__ routing, const T* __restrict__ experts,
                                   T* __restrict__ mixed, int64_t batch, int64_t num_experts,
                                   int64_t columns) {
  const int64_t total = batch * columns;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t b = idx / columns, p = idx % columns;
    const T* r = routing + b * num_experts;
    T acc = T(0);
    for (int64_t e = 0; e < num_experts; ++e) acc += r[e] * experts[e * columns + p];
    mixed[idx] = acc;
  }
}

// (B, columns) = routing (B, E) x experts (E, columns); both contiguous.
at::Tensor mix(const at::Tensor& routing, const at::Tensor& experts, int64_t columns) {
  const int64_t batch = routing.size(0), num_experts = routing.size(1);
  at::Tensor mixed = at::empty({batch, columns}, experts.options());
  const int64_t total = batch * columns;
  if (total == 0) return mixed;
  const int64_t blocks =
      std::min<int64_t>((total + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(experts.scalar_type(), "cond_conv2d_mix_cuda", [&] {
    mix_experts_kernel<scalar_t><<<blocks, kThreadsPerBlock, 0, stream>>>(
        routing.const_data_ptr<scalar_t>(), experts.const_data_ptr<scalar_t>(),
        mixed.mutable_data_ptr<scalar_t>(), batch, num_experts, columns);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return mixed;
}

CondConvStrategy grouped(const CondConvSizes&) { return CondConvStrategy::kGrouped; }

at::Tensor cond_conv2d_cuda(const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, const at::Tensor& routing,
                            at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, int64_t groups, c10::string_view strategy) {
  const c10::cuda::CUDAGuard guard(x.device());
  return cond_conv2d_forward(x, weight, bias, routing, stride, padding, dilation, groups, strategy,
                             &mix, &grouped);
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CUDA, m) { m.impl("cond_conv2d", &cond_conv2d_cuda); }

}  // namespace mmeff
