// Argument checks shared by the ops: a weight matrix or a vector of x's dtype and device, and
// aliasing. Errors start with `op` and name the argument.
#pragma once

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>

#include <optional>
#include <string>
#include <utility>

namespace mmeff {

// t must have like's dtype and device.
inline void check_like(const char* op, const char* name, const at::Tensor& t,
                       const at::Tensor& like) {
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), op, name, " must be ", like.scalar_type(),
              " like x, got ", t.scalar_type());
  TORCH_CHECK(t.device() == like.device(), op, name, " is on ", t.device(), " but x is on ",
              like.device());
}

// t must be (rows, cols) (rows < 0: any number of rows) with like's dtype and device.
inline void check_matrix(const char* op, const char* name, const at::Tensor& t, int64_t rows,
                         int64_t cols, const at::Tensor& like) {
  TORCH_CHECK(t.dim() == 2 && (rows < 0 || t.size(0) == rows) && t.size(1) == cols, op, name,
              " must have shape (", rows < 0 ? std::string("outputs") : std::to_string(rows), ", ",
              cols, "), got ", t.sizes());
  check_like(op, name, t, like);
}

// An absent t passes; otherwise it must be (size,) with like's dtype and device.
inline void check_vector(const char* op, const char* name, const std::optional<at::Tensor>& t,
                         int64_t size, const at::Tensor& like) {
  if (!t) return;
  TORCH_CHECK(t->dim() == 1 && t->size(0) == size, op, name, " must have shape (", size, ",), got ",
              t->sizes());
  check_like(op, name, *t, like);
}

// The byte range [first, last] that a non-empty tensor's elements span in its storage.
inline std::pair<int64_t, int64_t> storage_byte_span(const at::Tensor& t) {
  int64_t first = t.storage_offset(), last = first;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t reach = (t.size(d) - 1) * t.stride(d);
    (reach < 0 ? first : last) += reach;
  }
  const int64_t item = static_cast<int64_t>(t.element_size());
  return {first * item, last * item + item - 1};
}

// A buffer an op writes must share no memory with a tensor it reads: the kernels read their
// inputs while they write, so an alias would silently read values already overwritten.
// Strided views that ATen cannot decide on count as shared when their byte spans in one
// storage intersect.
inline void check_no_overlap(const char* op, const char* written_name, const at::Tensor& written,
                             const char* read_name, const at::Tensor& read) {
  if (!written.defined() || !read.defined() || written.numel() == 0 || read.numel() == 0) return;
  const at::MemOverlapStatus status = at::get_overlap_status(written, read);
  bool shared = status == at::MemOverlapStatus::Full || status == at::MemOverlapStatus::Partial;
  if (status == at::MemOverlapStatus::TooHard && written.storage().is_alias_of(read.storage())) {
    const auto [w_first, w_last] = storage_byte_span(written);
    const auto [r_first, r_last] = storage_byte_span(read);
    shared = w_first <= r_last && r_first <= w_last;
  }
  TORCH_CHECK(!shared, op, written_name, " shares memory with ", read_name,
              ": pass a separate buffer");
}

}  // namespace mmeff
