// CUDA kernel of kgs_conv3d (see ../kgs_conv3d.cpp for the contract).
//
// One thread per output element (clip, filter m, position l), positions fastest: the threads of
// a warp share m, so they walk the same kept columns of m's row block (the same weights, read
// once per warp) and read neighbouring input positions. Blocks without columns write the bias.
// The argument checks read the index (block_ptr, columns) from a host copy. c10 headers only
// (see sparse_conv2d_cuda.cu).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "kgs_conv3d.h"

namespace mmeff {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void kgs_conv3d_kernel(const T* __restrict__ x, const T* __restrict__ values,
                                  const int64_t* __restrict__ block_ptr,
                                  const int64_t* __restrict__ columns, const T* __restrict__ bias,
                                  T* __restrict__ out, KgsConv3dGeometry g) {
  const int64_t plane = g.out_t * g.out_h * g.out_w;
  const int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= g.batch * g.out_c * plane) return;
  const int64_t l = index % plane, m = index / plane % g.out_c, clip = index / (plane * g.out_c);
  const int64_t ow = l % g.out_w, oh = l / g.out_w % g.out_h, ot = l / (g.out_w * g.out_h);
  const int64_t a = m / g.group_rows, r = m % g.group_rows;
  const int64_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2], khw = g.kernel[1] * g.kernel[2];
  T acc = bias ? bias[m] : T(0);
  for (int64_t e = block_ptr[a]; e < block_ptr[a + 1]; ++e) {
    const int64_t j = columns[e], n = j / taps, p = j % taps;
    const int64_t t = ot * g.stride[0] - g.padding[0] + (p / khw) * g.dilation[0];
    const int64_t h =
        oh * g.stride[1] - g.padding[1] + (p / g.kernel[2] % g.kernel[1]) * g.dilation[1];
    const int64_t w = ow * g.stride[2] - g.padding[2] + (p % g.kernel[2]) * g.dilation[2];
    if (t < 0 || t >= g.in_t || h < 0 || h >= g.in_h || w < 0 || w >= g.in_w) continue;
    acc += values[e * g.group_rows + r] *
           x[(((clip * g.in_c + n) * g.in_t + t) * g.in_h + h) * g.in_w + w];
  }
  out[index] = acc;
}

at::Tensor kgs_conv3d_cuda(const at::Tensor& x, const at::Tensor& values,
                           const at::Tensor& block_ptr, const at::Tensor& columns,
                           const std::optional<at::Tensor>& bias, int64_t out_channels,
                           at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation) {
  const KgsConv3dGeometry g = check_kgs_conv3d_args(
      x, values, block_ptr, columns, bias, out_channels, kernel_size, stride, padding, dilation);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor x_c = x.contiguous(), values_c = values.contiguous();
  const at::Tensor ptr_c = block_ptr.contiguous(), cols_c = columns.contiguous();
  const at::Tensor bias_c = bias ? bias->contiguous() : at::Tensor();
  at::Tensor out = at::empty({g.batch, g.out_c, g.out_t, g.out_h, g.out_w}, x.options());
  if (out.numel() == 0) return out;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t blocks = (out.numel() + kThreads - 1) / kThreads;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "kgs_conv3d_cuda", [&] {
    kgs_conv3d_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        x_c.const_data_ptr<scalar_t>(), values_c.const_data_ptr<scalar_t>(),
        ptr_c.const_data_ptr<int64_t>(), cols_c.const_data_ptr<int64_t>(),
        bias ? bias_c.const_data_ptr<scalar_t>() : nullptr, out.mutable_data_ptr<scalar_t>(), g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CUDA, m) { m.impl("kgs_conv3d", &kgs_conv3d_cuda); }

}  // namespace mmeff
