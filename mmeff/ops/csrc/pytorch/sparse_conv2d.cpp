// sparse_conv2d: schema and device-independent argument checks.
//
//   sparse_conv2d(x, weight, bias, mask, out, stride, padding, dilation, groups) -> ()
//
// Writes conv2d(x, weight, bias) into `out` at the output positions where `mask` is true
// and leaves every other element of `out` untouched. Kernels: cpu/sparse_conv2d.cpp,
// cuda/sparse_conv2d_cuda.cu.
#include "sparse_conv2d.h"

#include <torch/library.h>

#include "tensor_checks.h"

namespace mmeff {

namespace {

std::string shape_str(const at::Tensor& t) { return c10::str(t.sizes()); }

void check_pair(const char* op, at::IntArrayRef values, const char* name) {
  TORCH_CHECK(values.size() == 2, op, name, " must have 2 values (h, w), got ", values.size());
}

}  // namespace

Conv2dGeometry check_sparse_conv2d_args(const char* op, const char* out_name, const at::Tensor& x,
                                        const at::Tensor& weight,
                                        const std::optional<at::Tensor>& bias,
                                        const at::Tensor& mask, const at::Tensor& out,
                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, int64_t groups) {
  TORCH_CHECK(x.dim() == 4, op, "x must be 4-D (N, C_in, H, W), got shape ", shape_str(x));
  TORCH_CHECK(weight.dim() == 4, op, "weight must be 4-D (C_out, C_in/groups, kh, kw), got shape ",
              shape_str(weight));
  check_pair(op, stride, "stride");
  check_pair(op, padding, "padding");
  check_pair(op, dilation, "dilation");
  TORCH_CHECK(stride[0] > 0 && stride[1] > 0, op, "stride must be positive, got ", stride);
  TORCH_CHECK(padding[0] >= 0 && padding[1] >= 0, op, "padding must be non-negative, got ",
              padding);
  TORCH_CHECK(dilation[0] > 0 && dilation[1] > 0, op, "dilation must be positive, got ", dilation);
  TORCH_CHECK(groups > 0, op, "groups must be positive, got ", groups);

  const Conv2dGeometry g = conv2d_geometry(x, weight, stride, padding, dilation, groups);
  TORCH_CHECK(g.in_channels > 0 && g.out_channels > 0, op,
              "x and weight need at least one channel, got x of shape ", shape_str(x),
              " and weight of shape ", shape_str(weight));
  TORCH_CHECK(g.in_channels % groups == 0 && g.out_channels % groups == 0, op, "groups=", groups,
              " must divide the input channels (", g.in_channels, ") and the output channels (",
              g.out_channels, ")");
  TORCH_CHECK(weight.size(1) * groups == g.in_channels, op, "weight of shape ", shape_str(weight),
              " expects ", weight.size(1) * groups, " input channels with groups=", groups,
              ", but x has ", g.in_channels);
  TORCH_CHECK(g.out_h > 0 && g.out_w > 0, op, "x of shape ", shape_str(x),
              " is smaller than the (dilated) kernel: output would be ", g.out_h, "x", g.out_w);

  TORCH_CHECK(at::isFloatingType(x.scalar_type()), op, "x must be floating point, got ",
              x.scalar_type());
  TORCH_CHECK(mask.scalar_type() == at::kBool, op, "mask must be bool, got ", mask.scalar_type());
  const std::pair<const char*, const at::Tensor*> named[] = {
      {"weight", &weight}, {out_name, &out}, {"bias", bias ? &*bias : nullptr}};
  for (const auto& [name, t] : named) {
    if (t == nullptr) continue;
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), op, name, " dtype ", t->scalar_type(),
                " differs from x dtype ", x.scalar_type());
  }
  for (const auto& [name, t] :
       {named[0], named[1], named[2], std::pair<const char*, const at::Tensor*>{"mask", &mask}}) {
    if (t == nullptr) continue;
    TORCH_CHECK(t->device() == x.device(), op, name, " is on ", t->device(), " but x is on ",
                x.device());
  }
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == g.out_channels, op, "bias must have shape (",
                g.out_channels, "), got ", shape_str(*bias));
  }
  TORCH_CHECK(mask.dim() == 3 && mask.size(0) == g.batch && mask.size(1) == g.out_h &&
                  mask.size(2) == g.out_w,
              op, "mask must have the output's shape (N, H_out, W_out) = (", g.batch, ", ", g.out_h,
              ", ", g.out_w, "), got ", shape_str(mask));
  TORCH_CHECK(out.dim() == 4 && out.size(0) == g.batch && out.size(1) == g.out_channels &&
                  out.size(2) == g.out_h && out.size(3) == g.out_w,
              op, out_name, " must have shape (N, C_out, H_out, W_out) = (", g.batch, ", ",
              g.out_channels, ", ", g.out_h, ", ", g.out_w, "), got ", shape_str(out));
  TORCH_CHECK(out.is_non_overlapping_and_dense(), op, out_name,
              " must be dense and non-overlapping (e.g. contiguous or channels_last), got "
              "strides ",
              out.strides());
  check_no_overlap(op, out_name, out, "x", x);
  check_no_overlap(op, out_name, out, "weight", weight);
  check_no_overlap(op, out_name, out, "mask", mask);
  if (bias) check_no_overlap(op, out_name, out, "bias", *bias);
  return g;
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "sparse_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor mask, Tensor(a!) out, "
      "int[2] stride, int[2] padding, int[2] dilation, int groups) -> ()");
}

}  // namespace mmeff
