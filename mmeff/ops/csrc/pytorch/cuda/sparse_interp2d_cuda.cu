// CUDA kernel of sparse_interp2d (see ../sparse_interp2d.cpp for the contract).
//
// One thread per output element (n, c, y, x): a sampled position copies x; an unsampled one
// scans its window of the mask twice (the largest log weight among the samples, then the
// normalised sum), reading x only at sampled positions. c10 headers only (see
// sparse_conv2d_cuda.cu).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "sparse_interp2d.h"

namespace mmeff {
namespace {

constexpr int kThreadsPerBlock = 256;

struct InterpShape {
  int64_t channels, height, width, window, weight_channel_stride;
};

template <typename T>
__global__ void sparse_interp2d_kernel(const T* __restrict__ x, const bool* __restrict__ mask,
                                       const T* __restrict__ log_weight, const T* __restrict__ fill,
                                       InterpShape s, int64_t total, T* __restrict__ out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const int64_t col = i % s.width, y = i / s.width % s.height;
  const int64_t c = i / (s.width * s.height) % s.channels,
                n = i / (s.width * s.height * s.channels);
  const bool* m = mask + n * s.height * s.width;
  if (m[y * s.width + col]) {
    out[i] = x[i];
    return;
  }
  const T* plane = x + (i - y * s.width - col);
  const T* lw = log_weight + c * s.weight_channel_stride;
  const T neg_inf = -INFINITY;
  T top = neg_inf;
  for_each_window_sample(m, s.height, s.width, s.window, y, col,
                         [&](int64_t, int64_t tap) { top = max(top, lw[tap]); });
  if (!(top > neg_inf)) {
    out[i] = fill ? fill[c] : T(0);
    return;
  }
  T num = 0, den = 0;
  for_each_window_sample(m, s.height, s.width, s.window, y, col, [&](int64_t q, int64_t tap) {
    const T weight = exp(lw[tap] - top);
    num += weight * plane[q];
    den += weight;
  });
  out[i] = num / den;
}

void sparse_interp2d_cuda(const at::Tensor& input, const at::Tensor& mask_in,
                          const at::Tensor& log_weight, const std::optional<at::Tensor>& fill,
                          at::Tensor out) {
  const char* op = "sparse_interp2d: ";
  const int64_t k = check_sparse_interp2d_args(op, input, mask_in, log_weight, fill, out);
  TORCH_CHECK(out.is_contiguous(), op, "out must be contiguous (NCHW) on CUDA");
  const c10::cuda::CUDAGuard guard(input.device());
  const int64_t total = out.numel();
  if (total == 0) return;
  const at::Tensor x = input.contiguous(), mask = mask_in.contiguous();
  const at::Tensor lw = log_weight.contiguous();
  const at::Tensor fill_c = fill ? fill->contiguous() : at::Tensor();
  const InterpShape s{x.size(1), x.size(2), x.size(3), k, log_weight.dim() == 2 ? 0 : k * k};
  const int64_t blocks = (total + kThreadsPerBlock - 1) / kThreadsPerBlock;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_interp2d_cuda", [&] {
    sparse_interp2d_kernel<scalar_t><<<blocks, kThreadsPerBlock, 0, stream>>>(
        x.const_data_ptr<scalar_t>(), mask.const_data_ptr<bool>(), lw.const_data_ptr<scalar_t>(),
        fill ? fill_c.const_data_ptr<scalar_t>() : nullptr, s, total,
        out.mutable_data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CUDA, m) { m.impl("sparse_interp2d", &sparse_interp2d_cuda); }

}  // namespace mmeff
