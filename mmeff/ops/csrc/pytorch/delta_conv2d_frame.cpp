// delta_conv2d_frame: schema, argument checks and the kernel of devices without their own.
//
//   delta_conv2d_frame(x, reference, output, weight, packed_weight, threshold, stride,
//                      padding, dilation, groups, dense_above) -> Tensor
//
// One frame of a SkipConv2d with a value gate. The input values that moved more than
// `threshold` from `reference` (|input - reference| > threshold, per value) fire; their
// changes `delta` are added to the cached output through the conv, output += conv2d(delta)
// (no bias: it is in the output already), and `reference` takes their current values. Only
// fired values are multiplied: each costs C_out/groups MACs per output position it reaches.
// Once the share of fired values reaches `dense_above`, the conv of the (mostly non-zero)
// delta runs densely instead; the result is the same. Returns the executed MACs (an int64
// scalar tensor on the CPU). The tensors and the geometry are checked here before any state
// changes (threshold and dense_above by the Python wrapper); an input with NaN or Inf raises a
// ValueError and changes nothing. `packed_weight` is `weight` laid
// out for the sparse kernel (C_in, kh, kw, C_out/groups); kernels: cpu/delta_conv2d_frame.cpp;
// other devices compose ATen ops (below) and ignore it.
//
//   delta_conv2d_frame_logged(<the same arguments>) -> (Tensor count, Tensor fired_pixels,
//                             Tensor old_reference, Tensor positions, Tensor old_output)
//
// The same update, for a stream transaction: it also returns the undo record of the call
// (frame_undo.h), taken after the gate and the NaN/Inf check and before any write: the pixels
// with a fired value (bool (N, H, W)) and their old reference values (P_in, C_in), the output
// positions whose window holds such a pixel (bool (N, H_out, W_out)) and their old values
// (P, C_out). Writing them back (through permute(0, 2, 3, 1) views) restores both tensors bit
// for bit. CPU kernel only: other devices run the Python reference.
#include "delta_conv2d_frame.h"

#include <torch/library.h>

#include "tensor_checks.h"

namespace mmeff {
namespace {

// Contiguous in NCHW or NHWC: every pixel's values at one pixel stride from the last's.
bool dense_pixels(const at::Tensor& t) {
  return t.is_contiguous() || t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// b has a's shape and memory layout: equal strides in every dimension of more than one
// element (the stride of a size-1 dimension, and every stride of an empty tensor, is free).
bool same_layout(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  if (a.numel() == 0) return true;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
  }
  return true;
}

}  // namespace

Conv2dGeometry check_delta_conv2d_frame_args(const at::Tensor& x, const at::Tensor& reference,
                                             const at::Tensor& output, const at::Tensor& weight,
                                             const at::Tensor& packed_weight,
                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                             at::IntArrayRef dilation, int64_t groups) {
  const char* op = "delta_conv2d_frame: ";
  TORCH_CHECK(x.dim() == 4, op, "x must be 4-D (N, C_in, H, W), got shape ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              "x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(weight.dim() == 4, op, "weight must be 4-D (C_out, C_in/groups, kh, kw), got shape ",
              weight.sizes());
  TORCH_CHECK(stride.size() == 2 && padding.size() == 2 && dilation.size() == 2, op,
              "stride, padding and dilation must be pairs");
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0 && dilation[0] > 0 && dilation[1] > 0 &&
                  padding[0] >= 0 && padding[1] >= 0,
              op, "stride and dilation must be positive and padding non-negative, got stride ",
              stride, ", padding ", padding, ", dilation ", dilation);
  TORCH_CHECK(groups > 0 && x.size(1) % groups == 0 && weight.size(0) % groups == 0 &&
                  weight.size(1) * groups == x.size(1),
              op, "weight ", weight.sizes(), " and groups ", groups, " do not fit the ", x.size(1),
              " channels of x");
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"reference", reference},
                                {"output", output},
                                {"weight", weight},
                                {"packed_weight", packed_weight}}) {
    TORCH_CHECK(t.scalar_type() == x.scalar_type(), op, name, " must be ", x.scalar_type(),
                " like x, got ", t.scalar_type());
    TORCH_CHECK(t.device() == x.device(), op, name, " is on ", t.device(), " but x is on ",
                x.device());
  }
  TORCH_CHECK(dense_pixels(x), op, "x must be contiguous or channels_last, got strides ",
              x.strides());
  TORCH_CHECK(same_layout(x, reference), op, "reference must have x's shape ", x.sizes(),
              " and strides ", x.strides(), ", got ", reference.sizes(), " and ",
              reference.strides());
  const Conv2dGeometry g = conv2d_geometry(x, weight, stride, padding, dilation, groups);
  TORCH_CHECK(g.out_h > 0 && g.out_w > 0, op, "x of shape ", x.sizes(),
              " is smaller than the (dilated) kernel");
  TORCH_CHECK(output.dim() == 4 && output.size(0) == g.batch && output.size(1) == g.out_channels &&
                  output.size(2) == g.out_h && output.size(3) == g.out_w && dense_pixels(output),
              op, "output must be contiguous or channels_last (", g.batch, ", ", g.out_channels,
              ", ", g.out_h, ", ", g.out_w, "), got ", output.sizes());
  TORCH_CHECK(packed_weight.dim() == 4 && packed_weight.size(0) == g.in_channels &&
                  packed_weight.size(1) == g.kernel_h && packed_weight.size(2) == g.kernel_w &&
                  packed_weight.size(3) == g.out_per_group() && packed_weight.is_contiguous(),
              op, "packed_weight must be contiguous (", g.in_channels, ", ", g.kernel_h, ", ",
              g.kernel_w, ", ", g.out_per_group(), ") (pack_delta_conv2d_weight), got ",
              packed_weight.sizes());
  for (const auto& [name, t] :
       {std::pair<const char*, const at::Tensor&>{"reference", reference}, {"output", output}}) {
    check_no_overlap(op, name, t, "x", x);
    check_no_overlap(op, name, t, "weight", weight);
    check_no_overlap(op, name, t, "packed_weight", packed_weight);
  }
  check_no_overlap(op, "reference", reference, "output", output);
  return g;
}

namespace {

at::Tensor delta_conv2d_frame_composite(const at::Tensor& input, const at::Tensor& reference,
                                        const at::Tensor& output, const at::Tensor& weight,
                                        const at::Tensor& packed_weight, double threshold,
                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, int64_t groups,
                                        double /*dense_above: always dense here*/) {
  const Conv2dGeometry g = check_delta_conv2d_frame_args(
      input, reference, output, weight, packed_weight, stride, padding, dilation, groups);
  TORCH_CHECK_VALUE(at::isfinite(input).all().item<bool>(),
                    "delta_conv2d_frame: the input contains NaN or Inf");
  at::Tensor delta = input - reference;
  const at::Tensor fired = delta.abs() > threshold;
  delta.masked_fill_(fired.logical_not(), 0);
  reference.copy_(at::where(fired, input, reference));
  output.add_(at::conv2d(delta, weight, {}, stride, padding, dilation, groups));
  // executed MACs: per output position, the fired values of its window times C_out/groups
  const at::Tensor per_group = fired.to(input.scalar_type())
                                   .view({g.batch, g.groups, g.in_per_group(), g.in_h, g.in_w})
                                   .sum(2);
  const at::Tensor window =
      at::conv2d(per_group, at::ones({g.groups, 1, g.kernel_h, g.kernel_w}, per_group.options()),
                 {}, stride, padding, dilation, g.groups);
  const int64_t fired_taps = window.sum().item<double>();
  return at::scalar_tensor(fired_taps * g.out_per_group(), at::kLong);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "delta_conv2d_frame(Tensor x, Tensor(a!) reference, Tensor(b!) output, Tensor weight, "
      "Tensor packed_weight, float threshold, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, float dense_above) -> Tensor");
  m.def(
      "delta_conv2d_frame_logged(Tensor x, Tensor(a!) reference, Tensor(b!) output, "
      "Tensor weight, Tensor packed_weight, float threshold, int[2] stride, int[2] padding, "
      "int[2] dilation, int groups, float dense_above) -> (Tensor, Tensor, Tensor, Tensor, "
      "Tensor)");
}

TORCH_LIBRARY_IMPL(mmeff, CompositeExplicitAutograd, m) {
  m.impl("delta_conv2d_frame", &delta_conv2d_frame_composite);
}

}  // namespace mmeff
