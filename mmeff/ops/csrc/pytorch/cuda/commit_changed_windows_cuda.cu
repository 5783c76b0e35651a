// CUDA kernel of commit_changed_windows (see ../commit_changed_windows.cpp for the contract).
//
// One thread block per output block sums the L1 change of its window (block reduction in
// shared memory) and records the decision; the fired share is counted on the device, and a
// second kernel (one thread per snapshot element) copies the current windows of the fired
// blocks into their snapshots. c10 headers only (see sparse_conv2d_cuda.cu).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "commit_changed_windows.h"

namespace mmeff {
namespace {

constexpr int kThreads = 256;

struct InputView {
  int64_t sn, sc, sh, sw;
};

// Value of window element `e` of `block` in the current input (zero in the padding).
template <typename T>
__device__ T window_value(const T* __restrict__ x, InputView v, const BlockWindowGeometry& g,
                          int64_t block, int64_t e) {
  const int64_t n = block / (g.blocks_h * g.blocks_w);
  const int64_t bi = block / g.blocks_w % g.blocks_h, bj = block % g.blocks_w;
  const int64_t k = e % g.win_w, r = e / g.win_w % g.win_h, c = e / (g.win_w * g.win_h);
  const int64_t y = g.row0(bi) + r, col = g.col0(bj) + k;
  if (y < 0 || y >= g.in_h || col < 0 || col >= g.in_w) return T(0);
  return x[n * v.sn + c * v.sc + y * v.sh + col * v.sw];
}

template <typename T>
__global__ void decide_kernel(const T* __restrict__ x, InputView v, const T* __restrict__ snapshots,
                              BlockWindowGeometry g, T limit, bool* __restrict__ fired) {
  __shared__ T partial[kThreads];
  const int64_t block = blockIdx.x;
  const T* s = snapshots + block * g.window_size();
  T sum = 0;
  for (int64_t e = threadIdx.x; e < g.window_size(); e += blockDim.x) {
    const T d = window_value(x, v, g, block, e) - s[e];
    sum += d < 0 ? -d : d;
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) fired[block] = partial[0] > limit;
}

template <typename T>
__global__ void commit_kernel(const T* __restrict__ x, InputView v, T* __restrict__ snapshots,
                              BlockWindowGeometry g, const bool* __restrict__ fired) {
  const int64_t total = g.blocks() * g.window_size();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t block = i / g.window_size();
    if (fired[block]) snapshots[i] = window_value(x, v, g, block, i % g.window_size());
  }
}

at::Tensor commit_changed_windows_cuda(const at::Tensor& input, const at::Tensor& snapshots,
                                       double limit, int64_t block_size,
                                       at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation,
                                       double commit_all_above) {
  const BlockWindowGeometry g =
      check_commit_changed_windows_args("commit_changed_windows: ", input, snapshots, block_size,
                                        kernel_size, stride, padding, dilation);
  const c10::cuda::CUDAGuard guard(input.device());
  TORCH_CHECK_VALUE(at::isfinite(input).all().item<bool>(),
                    "commit_changed_windows: the input contains NaN or Inf");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor fired = at::empty({g.batch, g.blocks_h, g.blocks_w}, input.options().dtype(at::kBool));
  const InputView v{input.stride(0), input.stride(1), input.stride(2), input.stride(3)};
  if (g.blocks() == 0) return block_positions(fired, g);  // no grid to launch
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "commit_changed_windows_cuda", [&] {
    decide_kernel<scalar_t><<<g.blocks(), kThreads, 0, stream>>>(
        input.const_data_ptr<scalar_t>(), v, snapshots.const_data_ptr<scalar_t>(), g,
        static_cast<scalar_t>(limit), fired.mutable_data_ptr<bool>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int64_t count = fired.sum().item<int64_t>();
    if (count > 0 && static_cast<double>(count) >= commit_all_above * g.blocks()) {
      fired.fill_(true);
    }
    const int64_t total = g.blocks() * g.window_size();
    if (total == 0) return;  // windows without channels: nothing to commit
    const int64_t grid = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
    commit_kernel<scalar_t><<<grid, kThreads, 0, stream>>>(input.const_data_ptr<scalar_t>(), v,
                                                           snapshots.mutable_data_ptr<scalar_t>(),
                                                           g, fired.const_data_ptr<bool>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return block_positions(fired, g);
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CUDA, m) {
  m.impl("commit_changed_windows", &commit_changed_windows_cuda);
}

}  // namespace mmeff
