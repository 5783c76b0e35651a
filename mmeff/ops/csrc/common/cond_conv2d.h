// Shared declarations of the cond_conv2d op: the device-independent forward (argument checks,
// the execution strategy, the convolution of the mixed kernels) that the CPU and CUDA kernels
// call with their own mix of the expert kernels.
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace mmeff {

// How the per-sample convolutions run once each sample's kernel is mixed.
enum class CondConvStrategy {
  kPerSample,  // one conv per sample (batch 1 each), written into the output's slice
  kGrouped,    // one conv over the batch folded into the channels, groups * B groups
  kMatmul,     // pointwise convs only: one batched GEMM (B, C_out, C_in) x (B, C_in, H*W)
};

// Sizes of a cond_conv2d call: B samples, E experts, P = C_out * C_in/groups * kh * kw
// elements per kernel, the output's (H_out, W_out), and whether the conv is pointwise (1x1
// kernel, stride 1, no padding, groups 1: a matrix product per sample).
struct CondConvSizes {
  int64_t batch, experts, out_channels, kernel_numel, out_h, out_w;
  bool pointwise;
};

// The device kernel's mix: (B, columns) = routing (B, E) x experts (E, columns), both
// contiguous.
using CondConvMix = at::Tensor (*)(const at::Tensor& routing, const at::Tensor& experts,
                                   int64_t columns);
// The device kernel's strategy for `strategy="auto"`.
using CondConvAutoStrategy = CondConvStrategy (*)(const CondConvSizes& sizes);

// The whole op on one device: checks the arguments, mixes the kernels and biases with `mix`,
// then convolves each sample with ATen's conv by the strategy (`automatic` for "auto").
at::Tensor cond_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, const at::Tensor& routing,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, c10::string_view strategy,
                               CondConvMix mix, CondConvAutoStrategy automatic);

}  // namespace mmeff
