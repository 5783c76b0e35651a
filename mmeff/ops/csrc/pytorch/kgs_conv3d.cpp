// kgs_conv3d: schema and argument checks.
//
//   kgs_conv3d(x, values, block_ptr, columns, bias, out_channels, kernel_size, stride, padding,
//              dilation) -> Tensor
//
// A Conv3d whose weight W (M, N, Kt, Kh, Kw), seen as the GEMM matrix (M, N·K), is packed per
// row block of g_M filters (g_M = values.size(1), blocks = ceil(M / g_M)): block a keeps the
// columns columns[block_ptr[a] : block_ptr[a + 1]] (a column j = n·K + p is input channel n at
// kernel position p, K = Kt·Kh·Kw) and values[block_ptr[a] + c, r] is W[a·g_M + r, j] for its
// c-th column. Every other weight is zero. Rows of the last block past M are ignored. This holds
// kernel-group structured (KGS) sparsity, whose row blocks keep a shared set of columns, vanilla
// group sparsity (a block without a group's columns skips it) and dense weights.
// Output: (N, M, T_out, H_out, W_out), zero padding, as F.conv3d with the unpacked weight.
// Kernels: cpu/kgs_conv3d.cpp, cuda/kgs_conv3d_cuda.cu.
#include "kgs_conv3d.h"

#include <torch/library.h>

#include "tensor_checks.h"

namespace mmeff {

namespace {

// block_ptr starts at 0, never decreases and ends at g.entries; every column lies in
// [0, in_c * taps). Both are CPU tensors.
void check_index(const at::Tensor& block_ptr_cpu, const at::Tensor& columns_cpu,
                 const KgsConv3dGeometry& g) {
  const char* op = "kgs_conv3d: ";
  const int64_t* ptr = block_ptr_cpu.const_data_ptr<int64_t>();
  TORCH_CHECK(ptr[0] == 0 && ptr[g.blocks] == g.entries, op, "block_ptr must run from 0 to ",
              g.entries, " (the entries of values), got ", ptr[0], " to ", ptr[g.blocks]);
  for (int64_t a = 0; a < g.blocks; ++a) {
    TORCH_CHECK(ptr[a] <= ptr[a + 1], op, "block_ptr must not decrease, got ", ptr[a], " > ",
                ptr[a + 1], " at block ", a);
  }
  const int64_t* cols = columns_cpu.const_data_ptr<int64_t>();
  const int64_t limit = g.in_c * g.taps();
  for (int64_t e = 0; e < g.entries; ++e) {
    TORCH_CHECK(cols[e] >= 0 && cols[e] < limit, op, "columns must lie in [0, ", limit,
                ") (in_channels x kernel positions), got ", cols[e], " at entry ", e);
  }
}

}  // namespace

KgsConv3dGeometry check_kgs_conv3d_args(const at::Tensor& x, const at::Tensor& values,
                                        const at::Tensor& block_ptr, const at::Tensor& columns,
                                        const std::optional<at::Tensor>& bias, int64_t out_channels,
                                        at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                        at::IntArrayRef padding, at::IntArrayRef dilation) {
  const char* op = "kgs_conv3d: ";
  TORCH_CHECK(x.dim() == 5, op, "x must be (N, C, T, H, W), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              "x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(out_channels >= 1, op, "out_channels must be >= 1, got ", out_channels);
  TORCH_CHECK(
      kernel_size.size() == 3 && stride.size() == 3 && padding.size() == 3 && dilation.size() == 3,
      op, "kernel_size, stride, padding and dilation must have 3 entries");
  KgsConv3dGeometry g{};
  g.batch = x.size(0);
  g.in_c = x.size(1);
  g.in_t = x.size(2);
  g.in_h = x.size(3);
  g.in_w = x.size(4);
  g.out_c = out_channels;
  const int64_t in_size[3] = {g.in_t, g.in_h, g.in_w};
  int64_t out_size[3];
  for (int d = 0; d < 3; ++d) {
    TORCH_CHECK(kernel_size[d] >= 1, op, "kernel_size must be >= 1, got ", kernel_size);
    TORCH_CHECK(stride[d] >= 1, op, "stride must be >= 1, got ", stride);
    TORCH_CHECK(padding[d] >= 0, op, "padding must be >= 0, got ", padding);
    TORCH_CHECK(dilation[d] >= 1, op, "dilation must be >= 1, got ", dilation);
    g.kernel[d] = kernel_size[d];
    g.stride[d] = stride[d];
    g.padding[d] = padding[d];
    g.dilation[d] = dilation[d];
    out_size[d] =
        (in_size[d] + 2 * padding[d] - dilation[d] * (kernel_size[d] - 1) - 1) / stride[d] + 1;
    TORCH_CHECK(in_size[d] + 2 * padding[d] >= dilation[d] * (kernel_size[d] - 1) + 1, op,
                "x of shape ", x.sizes(), " is smaller than the (dilated) kernel ", kernel_size);
  }
  g.out_t = out_size[0];
  g.out_h = out_size[1];
  g.out_w = out_size[2];
  TORCH_CHECK(values.dim() == 2 && values.size(1) >= 1, op,
              "values must be (entries, group_rows), got ", values.sizes());
  check_like(op, "values", values, x);
  g.group_rows = values.size(1);
  g.entries = values.size(0);
  g.blocks = (out_channels + g.group_rows - 1) / g.group_rows;
  TORCH_CHECK(block_ptr.dim() == 1 && block_ptr.size(0) == g.blocks + 1, op,
              "block_ptr must have shape (", g.blocks + 1, ",) for ", out_channels,
              " out_channels in blocks of ", g.group_rows, ", got ", block_ptr.sizes());
  TORCH_CHECK(columns.dim() == 1 && columns.size(0) == g.entries, op, "columns must have shape (",
              g.entries, ",) like values' rows, got ", columns.sizes());
  TORCH_CHECK(block_ptr.scalar_type() == at::kLong && columns.scalar_type() == at::kLong, op,
              "block_ptr and columns must be int64, got ", block_ptr.scalar_type(), " and ",
              columns.scalar_type());
  TORCH_CHECK(block_ptr.device() == x.device() && columns.device() == x.device(), op,
              "block_ptr and columns must be on x's device ", x.device());
  check_vector(op, "bias", bias, out_channels, x);
  check_index(block_ptr.cpu().contiguous(), columns.cpu().contiguous(), g);
  return g;
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "kgs_conv3d(Tensor x, Tensor values, Tensor block_ptr, Tensor columns, Tensor? bias, "
      "int out_channels, int[3] kernel_size, int[3] stride, int[3] padding, int[3] dilation) "
      "-> Tensor");
}

}  // namespace mmeff
