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
  return {x.size(0), experts, out_channels, weight[0].numel(), g.out_h, g.out_w};
}

CondConvStrategy parse_strategy(std::string_view strategy, CondConvStrategy automatic) {
  if (strategy == "auto") return automatic;
  if (strategy == "per_sample") return CondConvStrategy::kPerSample;
  if (strategy == "grouped") return CondConvStrategy::kGrouped;
  TORCH_CHECK(false, kOp, "strategy must be 'auto', 'per_sample' or 'grouped', got '", strategy,
              "'");
}

// conv2d of each sample x[b] with its mixed kernel mixed_weight[b] (B, P), viewed as
// (C_out, C_in/groups, kh, kw) like weight[0], and its bias mixed_bias[b] ((B, C_out) or
// undefined): the (B, C_out, H_out, W_out) output.
at::Tensor convolve_mixed(const CondConvSizes& sizes, const at::Tensor& x, const at::Tensor& weight,
                          const at::Tensor& mixed_weight, const at::Tensor& mixed_bias,
                          at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                          int64_t groups, CondConvStrategy strategy) {
  const int64_t batch = sizes.batch, out_channels = sizes.out_channels;
  if (batch == 0) return x.new_empty({0, out_channels, sizes.out_h, sizes.out_w});
  const at::IntArrayRef expert_shape = weight.sizes().slice(1);
  const auto sample_bias = [&](int64_t b) {
    return mixed_bias.defined() ? std::optional<at::Tensor>(mixed_bias[b]) : std::nullopt;
  };
  if (batch == 1) {  // both strategies are this one conv
    return at::conv2d(x, mixed_weight[0].view(expert_shape), sample_bias(0), stride, padding,
                      dilation, groups);
  }
  if (strategy == CondConvStrategy::kPerSample) {
    std::vector<at::Tensor> outputs;
    outputs.reserve(batch);
    for (int64_t b = 0; b < batch; ++b) {
      outputs.push_back(at::conv2d(x.narrow(0, b, 1), mixed_weight[b].view(expert_shape),
                                   sample_bias(b), stride, padding, dilation, groups));
    }
    return at::cat(outputs);
  }
  std::vector<int64_t> folded_shape(expert_shape.begin(), expert_shape.end());
  folded_shape[0] = batch * out_channels;
  const at::Tensor folded_x = x.reshape({1, batch * x.size(1), x.size(2), x.size(3)});
  const std::optional<at::Tensor> folded_bias =
      mixed_bias.defined() ? std::optional<at::Tensor>(mixed_bias.view({-1})) : std::nullopt;
  const at::Tensor y = at::conv2d(folded_x, mixed_weight.view(folded_shape), folded_bias, stride,
                                  padding, dilation, groups * batch);
  return y.view({batch, out_channels, sizes.out_h, sizes.out_w});
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
      parse_strategy(std::string_view(strategy.data(), strategy.size()), automatic(sizes));
  const at::Tensor r = routing.contiguous();
  const at::Tensor mixed_weight = mix(r, weight.contiguous(), sizes.kernel_numel);
  const at::Tensor mixed_bias =
      bias ? mix(r, bias->contiguous(), sizes.out_channels) : at::Tensor();
  return convolve_mixed(sizes, x, weight, mixed_weight, mixed_bias, stride, padding, dilation,
                        groups, chosen);
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "cond_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor routing, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, str strategy) -> Tensor");
}

}  // namespace mmeff
