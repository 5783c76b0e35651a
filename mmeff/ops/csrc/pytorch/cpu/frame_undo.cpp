// CPU gathers of the logged frame ops' undo records (frame_undo.h): copies of the rows and
// positions that a frame overwrites, in parallel, each read along memory. The selected
// positions are listed first (one pass over the bool mask); then every position's channels
// are copied at once where they are adjacent (channels_last), or every channel's positions
// where they are not (NCHW: a channel's positions of one row lie side by side).
#include "frame_undo.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cstring>

namespace mmeff {
namespace {

// Flat (n, y, x) indices of the set positions of a contiguous bool mask.
std::vector<int64_t> set_positions(const at::Tensor& mask) {
  const bool* m = mask.const_data_ptr<bool>();
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < mask.numel(); ++i) {
    if (m[i]) positions.push_back(i);
  }
  return positions;
}

}  // namespace

at::Tensor values_at(const at::Tensor& t, const at::Tensor& mask) {
  TORCH_CHECK(
      t.dim() == 4 && mask.dim() == 3 && mask.is_contiguous() && mask.scalar_type() == at::kBool,
      "values_at: expected an (N, C, H, W) tensor and a contiguous bool (N, H, W) mask");
  const std::vector<int64_t> positions = set_positions(mask);
  const int64_t count = positions.size(), channels = t.size(1);
  const int64_t h = t.size(2), w = t.size(3), plane = h * w;
  const bool adjacent = t.stride(1) == 1 || channels == 1;
  at::Tensor values = adjacent ? at::empty({count, channels}, t.options())
                               : at::empty({channels, count}, t.options());
  if (count == 0 || channels == 0) return adjacent ? values : values.t();
  // where position p's channel 0 lies in t
  std::vector<int64_t> offsets(count);
  for (int64_t j = 0; j < count; ++j) {
    const int64_t n = positions[j] / plane, y = positions[j] % plane / w, x = positions[j] % w;
    offsets[j] = n * t.stride(0) + y * t.stride(2) + x * t.stride(3);
  }
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "frame_undo_values_at", [&] {
    const scalar_t* src = t.const_data_ptr<scalar_t>();
    scalar_t* dst = values.mutable_data_ptr<scalar_t>();
    if (adjacent) {
      at::parallel_for(0, count, std::max<int64_t>(1, 4096 / channels), [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) {
          std::memcpy(dst + j * channels, src + offsets[j], channels * sizeof(scalar_t));
        }
      });
    } else {
      const int64_t step = t.stride(1);
      at::parallel_for(0, channels, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          scalar_t* row = dst + c * count;
          const scalar_t* channel = src + c * step;
          for (int64_t j = 0; j < count; ++j) row[j] = channel[offsets[j]];
        }
      });
    }
  });
  return adjacent ? values : values.t();
}

at::Tensor rows_at(const at::Tensor& state, int64_t leading, const std::vector<uint8_t>& flags) {
  const int64_t rows = flags.size();
  TORCH_CHECK(state.is_contiguous() && leading <= state.dim() &&
                  c10::multiply_integers(state.sizes().slice(0, leading)) == rows,
              "rows_at: expected a contiguous state of ", rows, " rows");
  std::vector<int64_t> selected;
  for (int64_t r = 0; r < rows; ++r) {
    if (flags[r]) selected.push_back(r);
  }
  const int64_t count = selected.size(), row_size = rows ? state.numel() / rows : 0;
  std::vector<int64_t> shape{count};
  for (int64_t d = leading; d < state.dim(); ++d) shape.push_back(state.size(d));
  at::Tensor out = at::empty(shape, state.options());
  if (count == 0 || row_size == 0) return out;
  const size_t bytes = row_size * state.element_size();
  const char* src = static_cast<const char*>(state.const_data_ptr());
  char* dst = static_cast<char*>(out.mutable_data_ptr());
  at::parallel_for(0, count, std::max<int64_t>(1, 65536 / static_cast<int64_t>(bytes)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t k = b; k < e; ++k) {
                       std::memcpy(dst + k * bytes, src + selected[k] * bytes, bytes);
                     }
                   });
  return out;
}

}  // namespace mmeff
