// CPU kernel of sparse_interp2d (see ../sparse_interp2d.cpp for the contract).
//
// Rows (n, y) run in parallel. For each row, one pass over the mask lists the sampled
// positions inside the window of every unsampled position (their flat index and window tap);
// with a shared (k, k) log_weight it also turns them into normalised coefficients once for all
// channels. A second pass, channel by channel, copies the sampled positions and sums the lists:
// the work is proportional to the unsampled positions times the samples in their windows,
// and no dense convolution runs. With a (C, k, k) log_weight the coefficients are formed per
// channel from the same lists. A channels_last `out` (and x) runs the pass pixel by pixel
// instead, each sample adding a contiguous channel vector.
#include "sparse_interp2d.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu_clones.h"
#include "scratch_buffer.h"

namespace mmeff {
namespace {

struct InterpGeometry {
  int64_t channels, height, width, window;
  bool shared;  // one (k, k) log_weight for all channels
};

// The lists of one row: for column j, `count[j]` entries from `start[j]` in `index` (flat
// position in the plane) and `tap` (window tap); count -1 marks a sampled column.
struct RowLists {
  int64_t* start;
  int64_t* count;
  int64_t* index;
  int64_t* tap;
};

// Below this weight of a window's top sample in the shared table, the table's weights of the
// window's other samples may have underflowed: such a window takes an exp per sample instead.
// Above it, every sample of weight >= epsilon^2 of the top one is a normal number.
template <typename T>
constexpr T table_floor() {
  return std::numeric_limits<T>::min() /
         (std::numeric_limits<T>::epsilon() * std::numeric_limits<T>::epsilon());
}

// `table[t]` = exp(log_weight[t] - max log_weight) for a shared log_weight: a window's
// normalised weights are its samples' table values over their sum, an exp per call rather
// than one per sample, unless the window's top sample is below table_floor.
template <typename T>
void list_row(const bool* mask, const T* log_weight, const T* table, const InterpGeometry& g,
              int64_t y, RowLists lists, T* coef) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  int64_t used = 0;
  for (int64_t j = 0; j < g.width; ++j) {
    lists.start[j] = used;
    if (mask[y * g.width + j]) {
      lists.count[j] = -1;
      continue;
    }
    const int64_t first = used;
    T top = neg_inf;
    int64_t top_tap = 0;
    for_each_window_sample(mask, g.height, g.width, g.window, y, j, [&](int64_t q, int64_t t) {
      if (g.shared) {
        if (!(log_weight[t] > neg_inf)) return;
        if (log_weight[t] > top) {
          top = log_weight[t];
          top_tap = t;
        }
      }
      lists.index[used] = q;
      lists.tap[used++] = t;
    });
    lists.count[j] = used - first;
    if (!g.shared || used == first) continue;
    T total = 0;
    if (table[top_tap] >= table_floor<T>()) {
      for (int64_t e = first; e < used; ++e) {
        coef[e] = table[lists.tap[e]];
        total += coef[e];
      }
      for (int64_t e = first; e < used; ++e) coef[e] /= total;
      continue;
    }
    for (int64_t e = first; e < used; ++e) {
      coef[e] = std::exp(log_weight[lists.tap[e]] - top);
      total += coef[e];
    }
    for (int64_t e = first; e < used; ++e) coef[e] /= total;
  }
}

// One channel of one row from its lists; `lw` is this channel's log_weight (per-channel case).
template <typename T>
__attribute__((always_inline)) inline void channel_row_impl(const T* plane, const T* lw,
                                                            const T* coef, T fill,
                                                            const InterpGeometry& g,
                                                            const RowLists& lists, int64_t y,
                                                            T* out_row) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < g.width; ++j) {
    const int64_t count = lists.count[j], first = lists.start[j];
    if (count < 0) {
      out_row[j] = plane[y * g.width + j];
    } else if (g.shared) {
      T sum = count ? T(0) : fill;
      for (int64_t e = first; e < first + count; ++e) sum += coef[e] * plane[lists.index[e]];
      out_row[j] = sum;
    } else {
      T top = neg_inf;
      for (int64_t e = first; e < first + count; ++e) top = std::max(top, lw[lists.tap[e]]);
      if (!(top > neg_inf)) {
        out_row[j] = fill;
        continue;
      }
      T num = 0, den = 0;
      for (int64_t e = first; e < first + count; ++e) {
        const T weight = std::exp(lw[lists.tap[e]] - top);
        num += weight * plane[lists.index[e]];
        den += weight;
      }
      out_row[j] = num / den;
    }
  }
}

MMEFF_CPU_CLONES void channel_row_f32(const float* plane, const float* lw, const float* coef,
                                      float fill, const InterpGeometry& g, const RowLists& lists,
                                      int64_t y, float* out_row) {
  channel_row_impl(plane, lw, coef, fill, g, lists, y, out_row);
}

MMEFF_CPU_CLONES void channel_row_f64(const double* plane, const double* lw, const double* coef,
                                      double fill, const InterpGeometry& g, const RowLists& lists,
                                      int64_t y, double* out_row) {
  channel_row_impl(plane, lw, coef, fill, g, lists, y, out_row);
}

inline void channel_row(const float* plane, const float* lw, const float* coef, float fill,
                        const InterpGeometry& g, const RowLists& lists, int64_t y, float* out) {
  channel_row_f32(plane, lw, coef, fill, g, lists, y, out);
}

inline void channel_row(const double* plane, const double* lw, const double* coef, double fill,
                        const InterpGeometry& g, const RowLists& lists, int64_t y, double* out) {
  channel_row_f64(plane, lw, coef, fill, g, lists, y, out);
}

// One row of a channels_last image: every output pixel is a C-vector, so a window sample adds
// a scaled contiguous vector (shared weights) and the channel loop vectorises.
template <typename T>
__attribute__((always_inline)) inline void pixel_row_impl(const T* image, const T* lw,
                                                          const T* coef, const T* fill,
                                                          const InterpGeometry& g,
                                                          const RowLists& lists, int64_t y,
                                                          T* out_image) {
  const int64_t channels = g.channels, taps = g.window * g.window;
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < g.width; ++j) {
    const int64_t count = lists.count[j], first = lists.start[j];
    T* out = out_image + (y * g.width + j) * channels;
    if (count < 0) {
      std::copy(image + (y * g.width + j) * channels, image + (y * g.width + j + 1) * channels,
                out);
      continue;
    }
    if (g.shared) {
      for (int64_t c = 0; c < channels; ++c) out[c] = fill && !count ? fill[c] : T(0);
      for (int64_t e = first; e < first + count; ++e) {
        const T* sample = image + lists.index[e] * channels;
        const T weight = coef[e];
        for (int64_t c = 0; c < channels; ++c) out[c] += weight * sample[c];
      }
      continue;
    }
    for (int64_t c = 0; c < channels; ++c) {
      T top = neg_inf;
      for (int64_t e = first; e < first + count; ++e) {
        top = std::max(top, lw[c * taps + lists.tap[e]]);
      }
      if (!(top > neg_inf)) {
        out[c] = fill ? fill[c] : T(0);
        continue;
      }
      T num = 0, den = 0;
      for (int64_t e = first; e < first + count; ++e) {
        const T weight = std::exp(lw[c * taps + lists.tap[e]] - top);
        num += weight * image[lists.index[e] * channels + c];
        den += weight;
      }
      out[c] = num / den;
    }
  }
}

MMEFF_CPU_CLONES void pixel_row_f32(const float* image, const float* lw, const float* coef,
                                    const float* fill, const InterpGeometry& g,
                                    const RowLists& lists, int64_t y, float* out) {
  pixel_row_impl(image, lw, coef, fill, g, lists, y, out);
}

MMEFF_CPU_CLONES void pixel_row_f64(const double* image, const double* lw, const double* coef,
                                    const double* fill, const InterpGeometry& g,
                                    const RowLists& lists, int64_t y, double* out) {
  pixel_row_impl(image, lw, coef, fill, g, lists, y, out);
}

inline void pixel_row(const float* image, const float* lw, const float* coef, const float* fill,
                      const InterpGeometry& g, const RowLists& lists, int64_t y, float* out) {
  pixel_row_f32(image, lw, coef, fill, g, lists, y, out);
}

inline void pixel_row(const double* image, const double* lw, const double* coef, const double* fill,
                      const InterpGeometry& g, const RowLists& lists, int64_t y, double* out) {
  pixel_row_f64(image, lw, coef, fill, g, lists, y, out);
}

void sparse_interp2d_cpu(const at::Tensor& input, const at::Tensor& mask_in,
                         const at::Tensor& log_weight, const std::optional<at::Tensor>& fill,
                         at::Tensor out) {
  const char* op = "sparse_interp2d: ";
  const int64_t k = check_sparse_interp2d_args(op, input, mask_in, log_weight, fill, out);
  // The layout of `out` picks the loop: NCHW channel by channel, channels_last pixel by pixel.
  const bool pixel_major = !out.is_contiguous();
  const at::Tensor x =
      input.contiguous(pixel_major ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  const at::Tensor mask = mask_in.contiguous();
  const at::Tensor lw = log_weight.contiguous();
  const at::Tensor fill_c = fill ? fill->contiguous() : at::Tensor();
  const InterpGeometry g{x.size(1), x.size(2), x.size(3), k, log_weight.dim() == 2};
  const int64_t rows = x.size(0) * g.height, plane_size = g.height * g.width;
  if (out.numel() == 0) return;
  const int64_t list_size = g.width * k * k;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(g.channels * list_size, 1));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_interp2d_cpu", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const bool* mp = mask.const_data_ptr<bool>();
    const scalar_t* lwp = lw.const_data_ptr<scalar_t>();
    const scalar_t* fp = fill ? fill_c.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* op_ = out.mutable_data_ptr<scalar_t>();
    std::vector<scalar_t> table;
    if (g.shared) {
      const scalar_t top = *std::max_element(lwp, lwp + k * k);
      for (int64_t t = 0; t < k * k; ++t) {
        table.push_back(lwp[t] > -std::numeric_limits<scalar_t>::infinity() ? std::exp(lwp[t] - top)
                                                                            : scalar_t(0));
      }
    }
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
      int64_t* ints = thread_scratch<int64_t>(ScratchSlot::kTaps, 2 * g.width + 2 * list_size);
      const RowLists lists{ints, ints + g.width, ints + 2 * g.width,
                           ints + 2 * g.width + list_size};
      scalar_t* coef = thread_scratch<scalar_t>(ScratchSlot::kWeights, list_size);
      for (int64_t row = begin; row < end; ++row) {
        const int64_t n = row / g.height, y = row % g.height;
        list_row(mp + n * plane_size, lwp, table.data(), g, y, lists, coef);
        if (pixel_major) {
          const int64_t image = n * g.channels * plane_size;
          pixel_row(xp + image, lwp, coef, fp, g, lists, y, op_ + image);
          continue;
        }
        for (int64_t c = 0; c < g.channels; ++c) {
          const int64_t plane = n * g.channels + c;
          channel_row(xp + plane * plane_size, g.shared ? lwp : lwp + c * k * k, coef,
                      fp ? fp[c] : scalar_t(0), g, lists, y,
                      op_ + plane * plane_size + y * g.width);
        }
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("sparse_interp2d", &sparse_interp2d_cpu); }

}  // namespace mmeff
