// sparse_interp2d: schema and device-independent argument checks.
//
//   sparse_interp2d(x, mask, log_weight, fill, out) -> ()
//
// Writes into `out` (N, C, H, W) x itself at the sampled positions (mask true) and, at every
// other position p, the softmax-weighted mean of the sampled positions q of the k x k window
// centred on p:
//   out[n, c, p] = sum_q exp(lw[c, q - p] - M) x[n, c, q] / sum_q exp(lw[c, q - p] - M),
// q over the sampled positions inside the map whose log weight lw is above -inf, M the largest
// of those log weights. Where there is none, out[n, c, p] = fill[c] (0 without fill). The
// values of x at unsampled positions are never read. log_weight is (k, k) (shared by the
// channels) or (C, k, k). out is contiguous, or channels_last on the CPU. Kernels:
// cpu/sparse_interp2d.cpp, cuda/sparse_interp2d_cuda.cu.
#include "sparse_interp2d.h"

#include <torch/library.h>

#include "tensor_checks.h"

namespace mmeff {

int64_t check_sparse_interp2d_args(const char* op, const at::Tensor& x, const at::Tensor& mask,
                                   const at::Tensor& log_weight,
                                   const std::optional<at::Tensor>& fill, const at::Tensor& out) {
  TORCH_CHECK(x.dim() == 4, op, "x must be 4-D (N, C, H, W), got shape ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              "x must be float32 or float64, got ", x.scalar_type());
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  TORCH_CHECK(mask.dim() == 3 && mask.size(0) == n && mask.size(1) == h && mask.size(2) == w, op,
              "mask must have shape (", n, ", ", h, ", ", w, ") like x's (N, H, W), got ",
              mask.sizes());
  TORCH_CHECK(mask.scalar_type() == at::kBool, op, "mask must be bool, got ", mask.scalar_type());
  TORCH_CHECK(mask.device() == x.device(), op, "mask is on ", mask.device(), " but x is on ",
              x.device());
  TORCH_CHECK(log_weight.dim() == 2 || log_weight.dim() == 3, op,
              "log_weight must be (k, k) or (C, k, k), got shape ", log_weight.sizes());
  const int64_t k = log_weight.size(-1);
  TORCH_CHECK(log_weight.size(-2) == k, op, "log_weight must be a square window, got shape ",
              log_weight.sizes());
  TORCH_CHECK(log_weight.dim() == 2 || log_weight.size(0) == c, op, "log_weight must have ", c,
              " channels like x, got shape ", log_weight.sizes());
  TORCH_CHECK(k % 2 == 1, op, "log_weight's window must be odd-sized, got ", k, "x", k);
  TORCH_CHECK(k <= kMaxInterpWindow, op, "log_weight's window ", k, "x", k, " is larger than ",
              kMaxInterpWindow, "x", kMaxInterpWindow);
  check_like(op, "log_weight", log_weight, x);
  if (fill) {
    TORCH_CHECK(fill->dim() == 1 && fill->size(0) == c, op, "fill must have shape (", c, ",), got ",
                fill->sizes());
    check_like(op, "fill", *fill, x);
  }
  TORCH_CHECK(out.sizes() == x.sizes(), op, "out must have x's shape ", x.sizes(), ", got ",
              out.sizes());
  check_like(op, "out", out, x);
  TORCH_CHECK(out.is_contiguous() || out.is_contiguous(at::MemoryFormat::ChannelsLast), op,
              "out must be contiguous (NCHW or channels_last)");
  check_no_overlap(op, "out", out, "x", x);
  check_no_overlap(op, "out", out, "mask", mask);
  check_no_overlap(op, "out", out, "log_weight", log_weight);
  if (fill) check_no_overlap(op, "out", out, "fill", *fill);
  return k;
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "sparse_interp2d(Tensor x, Tensor mask, Tensor log_weight, Tensor? fill, "
      "Tensor(a!) out) -> ()");
}

}  // namespace mmeff
