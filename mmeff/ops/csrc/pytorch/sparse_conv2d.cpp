// sparse_conv2d: schema and device-independent argument checks.
//
//   sparse_conv2d(input, weight, bias, mask, out, stride, padding, dilation, groups) -> ()
//
// Writes conv2d(input, weight, bias) into `out` at the output positions where `mask` is true
// and leaves every other element of `out` untouched. Kernels: cpu/sparse_conv2d.cpp,
// cuda/sparse_conv2d_cuda.cu.
#include <torch/library.h>

#include "sparse_conv2d.h"
#include "tensor_checks.h"

namespace mmeff {

namespace {

std::string shape_str(const at::Tensor& t) { return c10::str(t.sizes()); }

void check_pair(at::IntArrayRef values, const char* name) {
  TORCH_CHECK(values.size() == 2, "sparse_conv2d: ", name, " must have 2 values (h, w), got ",
              values.size());
}

}  // namespace

Conv2dGeometry check_sparse_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                                        const std::optional<at::Tensor>& bias,
                                        const at::Tensor& mask, const at::Tensor& out,
                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, int64_t groups) {
  TORCH_CHECK(input.dim() == 4, "sparse_conv2d: input must be 4-D (N, C_in, H, W), got shape ",
              shape_str(input));
  TORCH_CHECK(weight.dim() == 4,
              "sparse_conv2d: weight must be 4-D (C_out, C_in/groups, kh, kw), got shape ",
              shape_str(weight));
  check_pair(stride, "stride");
  check_pair(padding, "padding");
  check_pair(dilation, "dilation");
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0, "sparse_conv2d: stride must be positive, got ",
              stride);
  TORCH_CHECK(padding[0] >= 0 && padding[1] >= 0,
              "sparse_conv2d: padding must be non-negative, got ", padding);
  TORCH_CHECK(dilation[0] > 0 && dilation[1] > 0,
              "sparse_conv2d: dilation must be positive, got ", dilation);
  TORCH_CHECK(groups > 0, "sparse_conv2d: groups must be positive, got ", groups);

  const Conv2dGeometry g = conv2d_geometry(input, weight, stride, padding, dilation, groups);
  TORCH_CHECK(g.in_channels > 0 && g.out_channels > 0,
              "sparse_conv2d: x and weight need at least one channel, got x of shape ",
              shape_str(input), " and weight of shape ", shape_str(weight));
  TORCH_CHECK(g.in_channels % groups == 0 && g.out_channels % groups == 0,
              "sparse_conv2d: groups=", groups, " must divide the input channels (",
              g.in_channels, ") and the output channels (", g.out_channels, ")");
  TORCH_CHECK(weight.size(1) * groups == g.in_channels, "sparse_conv2d: weight of shape ",
              shape_str(weight), " expects ", weight.size(1) * groups,
              " input channels with groups=", groups, ", but input has ", g.in_channels);
  TORCH_CHECK(g.out_h > 0 && g.out_w > 0, "sparse_conv2d: input of shape ", shape_str(input),
              " is smaller than the (dilated) kernel: output would be ", g.out_h, "x", g.out_w);

  TORCH_CHECK(at::isFloatingType(input.scalar_type()),
              "sparse_conv2d: input must be floating point, got ", input.scalar_type());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), "sparse_conv2d: weight dtype ",
              weight.scalar_type(), " differs from input dtype ", input.scalar_type());
  TORCH_CHECK(out.scalar_type() == input.scalar_type(), "sparse_conv2d: out dtype ",
              out.scalar_type(), " differs from input dtype ", input.scalar_type());
  TORCH_CHECK(mask.scalar_type() == at::kBool, "sparse_conv2d: mask must be bool, got ",
              mask.scalar_type());
  TORCH_CHECK(weight.device() == input.device(), "sparse_conv2d: weight is on ", weight.device(),
              " but input is on ", input.device());
  TORCH_CHECK(mask.device() == input.device(), "sparse_conv2d: mask is on ", mask.device(),
              " but input is on ", input.device());
  TORCH_CHECK(out.device() == input.device(), "sparse_conv2d: out is on ", out.device(),
              " but input is on ", input.device());
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == g.out_channels,
                "sparse_conv2d: bias must have shape (", g.out_channels, "), got ",
                shape_str(*bias));
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), "sparse_conv2d: bias dtype ",
                bias->scalar_type(), " differs from input dtype ", input.scalar_type());
    TORCH_CHECK(bias->device() == input.device(), "sparse_conv2d: bias is on ", bias->device(),
                " but input is on ", input.device());
  }
  TORCH_CHECK(mask.dim() == 3 && mask.size(0) == g.batch && mask.size(1) == g.out_h &&
                  mask.size(2) == g.out_w,
              "sparse_conv2d: mask must have the output's shape (N, H_out, W_out) = (", g.batch,
              ", ", g.out_h, ", ", g.out_w, "), got ", shape_str(mask));
  TORCH_CHECK(out.dim() == 4 && out.size(0) == g.batch && out.size(1) == g.out_channels &&
                  out.size(2) == g.out_h && out.size(3) == g.out_w,
              "sparse_conv2d: out must have shape (N, C_out, H_out, W_out) = (", g.batch, ", ",
              g.out_channels, ", ", g.out_h, ", ", g.out_w, "), got ", shape_str(out));
  TORCH_CHECK(out.is_non_overlapping_and_dense(),
              "sparse_conv2d: out must be dense and non-overlapping (e.g. contiguous or "
              "channels_last), got strides ",
              out.strides());
  const char* op = "sparse_conv2d: ";
  check_no_overlap(op, "out", out, "x", input);
  check_no_overlap(op, "out", out, "weight", weight);
  check_no_overlap(op, "out", out, "mask", mask);
  if (bias) check_no_overlap(op, "out", out, "bias", *bias);
  return g;
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "sparse_conv2d(Tensor input, Tensor weight, Tensor? bias, Tensor mask, Tensor(a!) out, "
      "int[2] stride, int[2] padding, int[2] dilation, int groups) -> ()");
}

}  // namespace mmeff
