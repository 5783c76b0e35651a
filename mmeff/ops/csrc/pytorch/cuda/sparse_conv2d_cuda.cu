// CUDA kernel of sparse_conv2d: one thread per (active output position, output channel).
//
// The active positions are listed with at::nonzero(mask); each thread accumulates its
// receptive field directly, reading the input and writing `out` through their strides, so
// contiguous and channels_last tensors are handled alike. Same semantics as the CPU kernel:
// only masked positions of `out` are written.
// c10 headers only: ATen/cuda/CUDAContext.h pulls in cuSPARSE/cuBLAS headers that a minimal
// CUDA toolkit lacks.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "sparse_conv2d.h"

namespace mmeff {
namespace {

constexpr int kThreadsPerBlock = 256;

struct Strides4 {
  int64_t n, c, h, w;
};

Strides4 strides_of(const at::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

template <typename T>
__global__ void sparse_conv2d_kernel(const T* __restrict__ input, Strides4 is,
                                     const T* __restrict__ weight, const T* __restrict__ bias,
                                     const int64_t* __restrict__ positions, int64_t n_positions,
                                     T* __restrict__ out, Strides4 os, Conv2dGeometry g) {
  const int64_t total = n_positions * g.out_channels;
  const int64_t cig = g.in_per_group(), cog = g.out_per_group();
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t co = idx % g.out_channels;
    const int64_t p = idx / g.out_channels;
    const int64_t n = positions[p * 3], y = positions[p * 3 + 1], x = positions[p * 3 + 2];
    const int64_t group = co / cog;
    const T* w = weight + co * cig * g.kernel_h * g.kernel_w;
    T acc = bias ? bias[co] : T(0);
    for (int64_t ci = 0; ci < cig; ++ci) {
      const T* img = input + n * is.n + (group * cig + ci) * is.c;
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t yi = y * g.stride_h - g.pad_h + i * g.dil_h;
        if (yi < 0 || yi >= g.in_h) continue;
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          const int64_t xi = x * g.stride_w - g.pad_w + j * g.dil_w;
          if (xi < 0 || xi >= g.in_w) continue;
          acc += w[(ci * g.kernel_h + i) * g.kernel_w + j] * img[yi * is.h + xi * is.w];
        }
      }
    }
    out[n * os.n + co * os.c + y * os.h + x * os.w] = acc;
  }
}

void sparse_conv2d_cuda(const at::Tensor& input, const at::Tensor& weight,
                        const std::optional<at::Tensor>& bias, const at::Tensor& mask,
                        const at::Tensor& out, at::IntArrayRef stride, at::IntArrayRef padding,
                        at::IntArrayRef dilation, int64_t groups) {
  const Conv2dGeometry g = check_sparse_conv2d_args("sparse_conv2d: ", "out", input, weight, bias,
                                                    mask, out, stride, padding, dilation, groups);
  const c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor positions = at::nonzero(mask).contiguous();  // (P, 3): n, y, x
  const int64_t n_positions = positions.size(0);
  if (n_positions == 0 || g.out_channels == 0) return;
  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  const int64_t total = n_positions * g.out_channels;
  const int blocks =
      static_cast<int>(std::min<int64_t>((total + kThreadsPerBlock - 1) / kThreadsPerBlock, 65535));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "sparse_conv2d_cuda", [&] {
    sparse_conv2d_kernel<scalar_t><<<blocks, kThreadsPerBlock, 0, stream>>>(
        input.const_data_ptr<scalar_t>(), strides_of(input), w.const_data_ptr<scalar_t>(),
        b.defined() ? b.const_data_ptr<scalar_t>() : nullptr, positions.const_data_ptr<int64_t>(),
        n_positions, out.mutable_data_ptr<scalar_t>(), strides_of(out), g);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CUDA, m) { m.impl("sparse_conv2d", &sparse_conv2d_cuda); }

}  // namespace mmeff
