// Argument checks shared by the fused CPU ops: a weight matrix or a vector of the input's dtype
// and device. Errors start with `op` and name the argument.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace mmeff {

// t must be (rows, cols) (rows < 0: any number of rows) with like's dtype and device.
inline void check_matrix(const char* op, const char* name, const at::Tensor& t, int64_t rows,
                         int64_t cols, const at::Tensor& like) {
  TORCH_CHECK(t.dim() == 2 && (rows < 0 || t.size(0) == rows) && t.size(1) == cols, op, name,
              " must have shape (", rows < 0 ? std::string("outputs") : std::to_string(rows),
              ", ", cols, "), got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == like.scalar_type() && t.device() == like.device(), op, name,
              " must be ", like.scalar_type(), " on ", like.device(), ", got ", t.scalar_type(),
              " on ", t.device());
}

// An absent t passes; otherwise it must be (size,) with like's dtype and device.
inline void check_vector(const char* op, const char* name, const std::optional<at::Tensor>& t,
                         int64_t size, const at::Tensor& like) {
  if (!t) return;
  TORCH_CHECK(t->dim() == 1 && t->size(0) == size, op, name, " must have shape (", size,
              ",), got ", t->sizes());
  TORCH_CHECK(t->scalar_type() == like.scalar_type() && t->device() == like.device(), op, name,
              " must be ", like.scalar_type(), " on ", like.device(), ", got ", t->scalar_type(),
              " on ", t->device());
}

}  // namespace mmeff
