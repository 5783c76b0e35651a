// cond_conv2d: schema, device-independent argument checks and the convolution step.
//
//   cond_conv2d(x, weight, bias, routing, stride, padding, dilation, groups, strategy)
//       -> Tensor
//
// CondConv (Yang et al., 2019): each sample b convolves with its own kernel, a mix of E expert
// kernels by its routing weights,
//   y[b] = conv2d(x[b], sum_e routing[b, e] * weight[e]) + sum_e routing[b, e] * bias[e],
// with weight (E, C_out, C_in/groups, kh, kw), bias (E, C_out) or None, routing (B, E).
// Every kernel first mixes the B kernels (device code: cpu/cond_conv2d.cpp,
// cuda/cond_conv2d_cuda.cu), then convolves with ATen's conv (oneDNN, cuDNN) here, either one
// conv per sample or one grouped conv over the batch folded into the channels (`strategy`).
#include "cond_conv2d.h"

#include <torch/library.h>

#include <string_view>
#include <vector>

#include "conv2d_geometry.h"
#include "tensor_checks.h"

namespace mmeff {

namespace {

constexpr const char* kOp = "cond_conv2d: ";

void check_pair(at::IntArrayRef values, const char* name, int64_t minimum) {
  TORCH_CHECK(values.size() == 2, kOp, name, " must have 2 values (h, w), got ", values.size());
  TORCH_CHECK(values[0] >= minimum && values[1] >= minimum, kOp, name, " must be >= ", minimum,
              ", got ", values);
}

// Checks what the kernels rely on (ranks, shapes, dtypes, devices, conv parameters) and
// returns the sizes. Errors start with "cond_conv2d: " and name the argument.
CondConvSizes check_args(const at::Tensor& x, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, const at::Tensor& routing,
                         at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                         int64_t groups) {
  TORCH_CHECK(x.dim() == 4, kOp, "x must be 4-D (B, C_in, H, W), got shape ", x.sizes());
  TORCH_CHECK(weight.dim() == 5, kOp,
              "weight must be 5-D (E, C_out, C_in/groups, kh, kw), got shape ", weight.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), kOp, "x must be floating point, got ",
              x.scalar_type());
  check_like(kOp, "weight", weight, x);
  check_like(kOp, "routing", routing, x);
  check_pair(stride, "stride", 1);
  check_pair(padding, "padding", 0);
  check_pair(dilation, "dilation", 1);
  TORCH_CHECK(groups > 0, kOp, "groups must be positive, got ", groups);
  const int64_t experts = weight.size(0), out_channels = weight.size(1);
  TORCH_CHECK(experts >= 1, kOp, "weight needs at least one expert (E >= 1), got shape ",
              weight.sizes());
  TORCH_CHECK(x.size(1) % groups == 0 && out_channels % groups == 0, kOp, "groups=", groups,
              " must divide the input channels (", x.size(1), ") and the output channels (",
              out_channels, ")");
  TORCH_CHECK(weight.size(2) * groups == x.size(1), kOp, "weight of shape ", weight.sizes(),
              " expects ", weight.size(2) * groups, " input channels with groups=", groups,
              ", but x has ", x.size(1));
  TORCH_CHECK(routing.dim() == 2 && routing.size(0) == x.size(0) && routing.size(1) == experts, kOp,
              "routing must have shape (B, E) = (", x.size(0), ", ", experts, "), got ",
              routing.sizes());
  if (bias) {
    TORCH_CHECK(bias->dim() == 2 && bias->size(0) == experts && bias->size(1) == out_channels, kOp,
                "bias must have shape (E, C_out) = (", experts, ", ", out_channels, "), got ",
                bias->sizes());
    check_like(kOp, "bias", *bias, x);
  }
  const Conv2dGeometry g = conv2d_geometry(x, weight[0], stride, padding, dilation, groups);
  TORCH_CHECK(g.out_h > 0 && g.out_w > 0, kOp, "x of shape ", x.sizes(),
              " is smaller than the (dilated) kernel: output would be ", g.out_h, "x", g.out_w);
  const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
                         g.pad_h == 0 && g.pad_w == 0 && groups == 1;
  return {x.size(0), experts, out_channels, weight[0].numel(), g.out_h, g.out_w, pointwise};
}

CondConvStrategy parse_strategy(std::string_view strategy, CondConvStrategy automatic,
                                const CondConvSizes& sizes) {
  if (strategy == "auto") return automatic;
  if (strategy == "per_sample") return CondConvStrategy::kPerSample;
  if (strategy == "grouped") return CondConvStrategy::kGrouped;
  if (strategy == "matmul") {
    TORCH_CHECK(sizes.pointwise, kOp,
                "strategy 'matmul' needs a pointwise conv (1x1 kernel, stride 1, no padding, "
                "groups 1)");
    return CondConvStrategy::kMatmul;
  }
  TORCH_CHECK(false, kOp, "strategy must be 'auto', 'per_sample', 'grouped' or 'matmul', got '",
              strategy, "'");
}

// The arguments of the convolution step: each sample b's mixed kernel mixed_weight[b] (a row
// of (B, P), viewed as weight[0]'s (C_out, C_in/groups, kh, kw)) and bias mixed_bias[b]
// ((B, C_out) or undefined).
struct MixedConv {
  const CondConvSizes& sizes;
  at::IntArrayRef expert_shape, stride, padding, dilation;
  int64_t groups;
  at::Tensor mixed_weight, mixed_bias;

  std::optional<at::Tensor> sample_bias(int64_t b) const {
    return mixed_bias.defined() ? std::optional<at::Tensor>(mixed_bias[b]) : std::nullopt;
  }
};

// One conv per sample, concatenated.
at::Tensor convolve_per_sample(const at::Tensor& x, const MixedConv& c) {
  if (c.sizes.batch == 1) {  // the static conv of the one mixed kernel, no copies
    return at::conv2d(x, c.mixed_weight.view(c.expert_shape), c.sample_bias(0), c.stride, c.padding,
                      c.dilation, c.groups);
  }
  std::vector<at::Tensor> outputs;
  outputs.reserve(c.sizes.batch);
  for (int64_t b = 0; b < c.sizes.batch; ++b) {
    outputs.push_back(at::conv2d(x.narrow(0, b, 1), c.mixed_weight[b].view(c.expert_shape),
                                 c.sample_bias(b), c.stride, c.padding, c.dilation, c.groups));
  }
  return at::cat(outputs);
}

// One conv of (1, B*C_in, H, W) with the B kernels stacked and groups * B groups.
at::Tensor convolve_grouped(const at::Tensor& x, const MixedConv& c) {
  const int64_t batch = c.sizes.batch;
  std::vector<int64_t> folded_shape(c.expert_shape.begin(), c.expert_shape.end());
  folded_shape[0] = batch * c.sizes.out_channels;
  const std::optional<at::Tensor> folded_bias =
      c.mixed_bias.defined() ? std::optional<at::Tensor>(c.mixed_bias.view({-1})) : std::nullopt;
  const at::Tensor y = at::conv2d(x.reshape({1, batch * x.size(1), x.size(2), x.size(3)}),
                                  c.mixed_weight.view(folded_shape), folded_bias, c.stride,
                                  c.padding, c.dilation, c.groups * batch);
  return y.view({batch, c.sizes.out_channels, c.sizes.out_h, c.sizes.out_w});
}

// A pointwise conv as one batched GEMM: y[b] (C_out, H*W) = W_b (C_out, C_in) x[b] (C_in, H*W).
at::Tensor multiply_pointwise(const at::Tensor& x, const MixedConv& c) {
  const int64_t batch = c.sizes.batch, out_channels = c.sizes.out_channels;
  const at::Tensor kernels = c.mixed_weight.view({batch, out_channels, x.size(1)});
  const at::Tensor columns = x.reshape({batch, x.size(1), x.size(2) * x.size(3)});
  const at::Tensor y = c.mixed_bias.defined()
                           ? at::baddbmm(c.mixed_bias.unsqueeze(2), kernels, columns)
                           : at::bmm(kernels, columns);
  return y.view({batch, out_channels, c.sizes.out_h, c.sizes.out_w});
}

}  // namespace

at::Tensor cond_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, const at::Tensor& routing,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, c10::string_view strategy,
                               CondConvMix mix, CondConvAutoStrategy automatic) {
  const CondConvSizes sizes =
      check_args(x, weight, bias, routing, stride, padding, dilation, groups);
  const CondConvStrategy chosen =
      parse_strategy(std::string_view(strategy.data(), strategy.size()), automatic(sizes), sizes);
  if (sizes.batch == 0) return x.new_empty({0, sizes.out_channels, sizes.out_h, sizes.out_w});
  const at::Tensor r = routing.contiguous();
  const MixedConv conv{sizes,
                       weight.sizes().slice(1),
                       stride,
                       padding,
                       dilation,
                       groups,
                       mix(r, weight.contiguous(), sizes.kernel_numel),
                       bias ? mix(r, bias->contiguous(), sizes.out_channels) : at::Tensor()};
  switch (chosen) {
    case CondConvStrategy::kPerSample:
      return convolve_per_sample(x, conv);
    case CondConvStrategy::kGrouped:
      return convolve_grouped(x, conv);
    case CondConvStrategy::kMatmul:
      return multiply_pointwise(x, conv);
  }
  TORCH_CHECK(false, kOp, "unknown strategy");
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "cond_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor routing, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, str strategy) -> Tensor");
}

}  // namespace mmeff
