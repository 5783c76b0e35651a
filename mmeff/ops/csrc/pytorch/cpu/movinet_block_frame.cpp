// CPU kernel of movinet_block_frame (see ../movinet_block_frame.cpp for the contract).
//
// Per sample, parallel passes with serial steps in between, each thread on its own channels
// and buffers:
//   1. expand + depthwise, over chunks of the E expanded channels: the chunk's rows of the
//      expand GEMM (single-threaded BLAS into a scratch buffer), then per channel plane the
//      expand bias and activation, the split into stride phases, the spatial taps summed in
//      registers (../../common/depthwise_plane_cpu.h), the spatial activation, the temporal
//      taps over the buffered frames, the activation and the plane's mean, all while the plane
//      is in cache; element loops run over whole planes (rows of small maps are too short for
//      vectors);
//   2. squeeze-excitation: two small matrix-vector products (serial BLAS);
//   3. the shortcut's average pool (strided blocks), over input channels;
//   4. project, over chunks of the output channels: the chunk's rows of the project weight
//      scaled by rezero * gate, then the shortcut GEMM (or a copy of the shortcut) and the
//      project GEMM accumulating onto the biases.
// Element loops are compiled for AVX-512, AVX2 and baseline x86-64 (GCC target_clones).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "activation_cpu.h"
#include "blas.h"
#include "conv2d_geometry.h"
#include "cpu_clones.h"
#include "depthwise_plane_cpu.h"
#include "scratch_buffer.h"
#include "tensor_checks.h"

namespace mmeff {
namespace {

constexpr const char* kOp = "movinet_block_frame: ";

// One expanded channel plane of the depthwise stage; pointers to the plane's own elements.
template <typename scalar_t>
struct PlaneTask {
  scalar_t* in;  // expand GEMM output, before bias and activation (activated in place)
  scalar_t in_bias;
  const scalar_t* spatial_weight;  // kh * kw taps
  scalar_t spatial_bias;
  const scalar_t* past[8];          // temporal_taps - 1 planes
  const scalar_t* temporal_weight;  // temporal_taps taps, or nullptr
  scalar_t temporal_bias;
  int64_t temporal_taps;
  scalar_t* spatial;  // written when temporal_weight, else nullptr
  scalar_t* out;
  scalar_t* mean;
};

template <Activation act, typename scalar_t>
__attribute__((always_inline)) inline void plane_impl(const PlaneTask<scalar_t>& task,
                                                      scalar_t* phases, scalar_t* acc,
                                                      const PlaneGeometry& g) {
  scalar_t* __restrict in = task.in;
  const scalar_t in_bias = task.in_bias;
#pragma omp simd
  for (int64_t q = 0; q < g.in_h * g.in_w; ++q) in[q] = activate<act>(in[q] + in_bias);
  split_phases(in, phases, g, [](scalar_t v) { return v; });
  accumulate_taps(phases, task.spatial_weight, task.spatial_bias, acc, g);
#pragma omp simd
  for (int64_t j = 0; j < g.span; ++j) acc[j] = activate<act>(acc[j]);
  const int64_t size = g.out_h * g.out_w;
  // the valid columns of the accumulator rows (which have the phase pitch)
  scalar_t* __restrict spatial = task.temporal_weight ? task.spatial : task.out;
  for (int64_t y = 0; y < g.out_h; ++y) {
    std::copy(acc + y * g.phase_w, acc + y * g.phase_w + g.out_w, spatial + y * g.out_w);
  }
  scalar_t* __restrict out = task.out;
  if (task.temporal_weight) {  // whole planes from here on
    const scalar_t* w = task.temporal_weight;
    const scalar_t bias = task.temporal_bias, newest = w[task.temporal_taps - 1];
#pragma omp simd
    for (int64_t q = 0; q < size; ++q) out[q] = bias + newest * spatial[q];
    for (int64_t i = 0; i + 1 < task.temporal_taps; ++i) {
      const scalar_t* __restrict past = task.past[i];
      const scalar_t weight = w[i];
#pragma omp simd
      for (int64_t q = 0; q < size; ++q) out[q] += weight * past[q];
    }
#pragma omp simd
    for (int64_t q = 0; q < size; ++q) out[q] = activate<act>(out[q]);
  }
  scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t q = 0; q < size; ++q) sum += out[q];
  *task.mean = sum / scalar_t(size);
}

// always_inline: the clones below must compile the whole plane for their instruction set
template <typename scalar_t>
__attribute__((always_inline)) inline void plane_dispatch(Activation act,
                                                          const PlaneTask<scalar_t>& task,
                                                          scalar_t* phases, scalar_t* acc,
                                                          const PlaneGeometry& g) {
  switch (act) {
    case Activation::kRelu:
      return plane_impl<Activation::kRelu>(task, phases, acc, g);
    case Activation::kHardSwish:
      return plane_impl<Activation::kHardSwish>(task, phases, acc, g);
    default:
      return plane_impl<Activation::kIdentity>(task, phases, acc, g);
  }
}

MMEFF_CPU_CLONES void plane_f32(Activation act, const PlaneTask<float>& task, float* phases,
                                float* acc, const PlaneGeometry& g) {
  plane_dispatch(act, task, phases, acc, g);
}

MMEFF_CPU_CLONES void plane_f64(Activation act, const PlaneTask<double>& task, double* phases,
                                double* acc, const PlaneGeometry& g) {
  plane_dispatch(act, task, phases, acc, g);
}

inline void plane(Activation act, const PlaneTask<float>& task, float* phases, float* acc,
                  const PlaneGeometry& g) {
  plane_f32(act, task, phases, acc, g);
}

inline void plane(Activation act, const PlaneTask<double>& task, double* phases, double* acc,
                  const PlaneGeometry& g) {
  plane_f64(act, task, phases, acc, g);
}

// Contiguous data of an optional tensor, or nullptr.
template <typename scalar_t>
const scalar_t* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<scalar_t>() : nullptr;
}

at::Tensor contiguous_or_undefined(const std::optional<at::Tensor>& t) {
  return t ? t->contiguous() : at::Tensor();
}

// 3x3 stride-2 average pooling of one plane, padding 1 not counted (F.avg_pool2d with
// count_include_pad=False): per output row the 2-3 input rows summed into `row` (w elements),
// then 3-column sums at stride 2.
template <typename scalar_t>
__attribute__((always_inline)) inline void pool_plane_impl(const scalar_t* in, int64_t h, int64_t w,
                                                           scalar_t* out, int64_t out_h,
                                                           int64_t out_w,
                                                           scalar_t* __restrict row) {
  for (int64_t i = 0; i < out_h; ++i) {
    const int64_t y0 = std::max<int64_t>(2 * i - 1, 0), y1 = std::min<int64_t>(2 * i + 2, h);
    std::copy(in + y0 * w, in + y0 * w + w, row);
    for (int64_t y = y0 + 1; y < y1; ++y) {
      const scalar_t* __restrict src = in + y * w;
#pragma omp simd
      for (int64_t x = 0; x < w; ++x) row[x] += src[x];
    }
    scalar_t* dst = out + i * out_w;
    const scalar_t rows = scalar_t(y1 - y0);
    // columns 2j - 1 .. 2j + 1; j = 0 lacks column -1, the last j may lack column w
    dst[0] = (row[0] + (w > 1 ? row[1] : scalar_t(0))) / (rows * scalar_t(w > 1 ? 2 : 1));
    const int64_t full = (w - 2) / 2 + 1;  // j < full: column 2j + 1 exists
    for (int64_t j = 1; j < std::min(full, out_w); ++j) {
      dst[j] = (row[2 * j - 1] + row[2 * j] + row[2 * j + 1]) / (rows * scalar_t(3));
    }
    if (out_w > 1 && full < out_w) {  // the last column pair: 2j - 1, 2j
      const int64_t j = out_w - 1;
      dst[j] = (row[2 * j - 1] + row[2 * j]) / (rows * scalar_t(2));
    }
  }
}

MMEFF_CPU_CLONES void pool_plane(const float* in, int64_t h, int64_t w, float* out, int64_t oh,
                                 int64_t ow, float* row) {
  pool_plane_impl(in, h, w, out, oh, ow, row);
}

MMEFF_CPU_CLONES void pool_plane(const double* in, int64_t h, int64_t w, double* out, int64_t oh,
                                 int64_t ow, double* row) {
  pool_plane_impl(in, h, w, out, oh, ow, row);
}

// Chunk size of a parallel pass over `range` items of `work` multiply-adds each: one chunk per
// thread, or the whole range on the calling thread when the pass is too small to share.
int64_t chunk_of(int64_t range, int64_t work) {
  constexpr int64_t kSerialWork = 1 << 15;
  const int64_t threads = at::get_num_threads();
  if (threads <= 1 || range * work < kSerialWork) return std::max<int64_t>(range, 1);
  return std::max<int64_t>(1, (range + threads - 1) / threads);
}

// The sizes of a block and its activations, from the checked arguments.
struct BlockShape {
  int64_t n, in_channels, channels, hidden, out_channels, temporal_taps;
  PlaneGeometry g;  // of the depthwise stage
  Activation act, se_act, gate_act;
};

// Checks the temporal stage (temporal_weight, temporal_bias and the past frames of an
// (N, E, H', W') depthwise output) and returns k_t, 0 without a temporal stage.
int64_t check_temporal_stage(const at::Tensor& input, int64_t n, int64_t channels,
                             const PlaneGeometry& g, at::TensorList past,
                             const std::optional<at::Tensor>& temporal_weight,
                             const std::optional<at::Tensor>& temporal_bias) {
  int64_t temporal_taps = 0;
  if (temporal_weight) {
    temporal_taps = temporal_weight->dim() == 2 ? temporal_weight->size(1) : 0;
    TORCH_CHECK(temporal_taps >= 1 && temporal_taps <= 9, kOp,
                "temporal_weight must have shape (E, k_t) with 1 <= k_t <= 9, got ",
                temporal_weight->sizes());
    check_matrix(kOp, "temporal_weight", *temporal_weight, channels, temporal_taps, input);
    check_vector(kOp, "temporal_bias", temporal_bias, channels, input);
    TORCH_CHECK(static_cast<int64_t>(past.size()) == temporal_taps - 1, kOp,
                "expected k_t - 1 = ", temporal_taps - 1, " past frames, got ", past.size());
  } else {
    TORCH_CHECK(past.empty() && !temporal_bias, kOp,
                "past frames and temporal_bias need a temporal_weight");
  }
  for (size_t i = 0; i < past.size(); ++i) {
    const at::Tensor& frame = past[i];
    const bool shaped = (frame.dim() == 4 || (frame.dim() == 5 && frame.size(2) == 1)) &&
                        frame.size(0) == n && frame.size(1) == channels &&
                        frame.size(-2) == g.out_h && frame.size(-1) == g.out_w;
    TORCH_CHECK(shaped, kOp, "past frame ", i, " must have shape (N, E, [1,] H', W') = (", n, ", ",
                channels, ", [1,] ", g.out_h, ", ", g.out_w, "), got ", frame.sizes());
    const std::string name = "past frame " + std::to_string(i);
    check_like(kOp, name.c_str(), frame, input);
  }
  return temporal_taps;
}

// Checks every tensor's shape, dtype and device, the activation names and the shortcut's
// fit (what the passes' pointer access relies on; the Python wrapper checks frames_seen
// against pooled_sum); names the argument as the wrapper does.
BlockShape check_block_frame_args(
    const at::Tensor& input, const at::Tensor& expand_weight,
    const std::optional<at::Tensor>& expand_bias, const at::Tensor& spatial_weight,
    const std::optional<at::Tensor>& spatial_bias, at::IntArrayRef stride, at::IntArrayRef padding,
    at::TensorList past, const std::optional<at::Tensor>& temporal_weight,
    const std::optional<at::Tensor>& temporal_bias, c10::string_view activation,
    const std::optional<at::Tensor>& pooled_sum, const at::Tensor& reduce_weight,
    const std::optional<at::Tensor>& reduce_bias, const at::Tensor& excite_weight,
    const std::optional<at::Tensor>& excite_bias, c10::string_view se_activation,
    c10::string_view gate, const at::Tensor& project_weight,
    const std::optional<at::Tensor>& project_bias, bool shortcut_pool,
    const std::optional<at::Tensor>& shortcut_weight,
    const std::optional<at::Tensor>& shortcut_bias) {
  TORCH_CHECK(input.dim() == 4, kOp, "x must be 4-D (N, C_in, H, W), got shape ", input.sizes());
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, kOp,
              "x must be float32 or float64, got ", input.scalar_type());
  const int64_t n = input.size(0), in_channels = input.size(1);
  const int64_t channels = expand_weight.dim() == 2 ? expand_weight.size(0) : -1;
  TORCH_CHECK(channels > 0, kOp, "expand_weight must have shape (E, C_in), got ",
              expand_weight.sizes());
  check_matrix(kOp, "expand_weight", expand_weight, channels, in_channels, input);
  check_vector(kOp, "expand_bias", expand_bias, channels, input);
  const Activation act = parse_activation(kOp, std::string(activation), "activation");
  const Activation se_act = parse_activation(kOp, std::string(se_activation), "se_activation");
  const Activation gate_act = parse_activation(kOp, std::string(gate), "gate", true);

  // the depthwise stage sees the expanded input: its checks on a (N, E, H, W) shape
  const at::Tensor expanded_like =
      at::empty({n, channels, input.size(2), input.size(3)}, input.options().device(at::kMeta));
  const int64_t unit[2] = {1, 1};
  check_depthwise_conv_args(kOp, expanded_like, "spatial_weight", spatial_weight, "spatial_bias",
                            spatial_bias, stride, padding, unit);
  check_like(kOp, "spatial_weight", spatial_weight, input);
  if (spatial_bias) check_like(kOp, "spatial_bias", *spatial_bias, input);
  const Conv2dGeometry conv =
      conv2d_geometry(expanded_like, spatial_weight, stride, padding, unit, channels);
  TORCH_CHECK(conv.out_h > 0 && conv.out_w > 0, kOp, "x of shape ", input.sizes(),
              " is smaller than the spatial kernel");
  const PlaneGeometry g = plane_geometry(conv);

  const int64_t temporal_taps =
      check_temporal_stage(input, n, channels, g, past, temporal_weight, temporal_bias);
  if (pooled_sum) {
    check_matrix(kOp, "pooled_sum", *pooled_sum, n, channels, input);
  }
  const int64_t hidden = reduce_weight.dim() == 2 ? reduce_weight.size(0) : -1;
  TORCH_CHECK(hidden > 0, kOp, "reduce_weight must have shape (H, 2E), got ",
              reduce_weight.sizes());
  check_matrix(kOp, "reduce_weight", reduce_weight, hidden, 2 * channels, input);
  check_vector(kOp, "reduce_bias", reduce_bias, hidden, input);
  check_matrix(kOp, "excite_weight", excite_weight, channels, hidden, input);
  check_vector(kOp, "excite_bias", excite_bias, channels, input);
  const int64_t out_channels = project_weight.dim() == 2 ? project_weight.size(0) : -1;
  TORCH_CHECK(out_channels > 0, kOp, "project_weight must have shape (C_out, E), got ",
              project_weight.sizes());
  check_matrix(kOp, "project_weight", project_weight, out_channels, channels, input);
  check_vector(kOp, "project_bias", project_bias, out_channels, input);
  const int64_t pooled_h = shortcut_pool ? (g.in_h - 1) / 2 + 1 : g.in_h;
  const int64_t pooled_w = shortcut_pool ? (g.in_w - 1) / 2 + 1 : g.in_w;
  TORCH_CHECK(pooled_h == g.out_h && pooled_w == g.out_w, kOp, "the shortcut's frame size (",
              pooled_h, ", ", pooled_w, ") differs from the depthwise stage's (", g.out_h, ", ",
              g.out_w, ")");
  if (shortcut_weight) {
    check_matrix(kOp, "shortcut_weight", *shortcut_weight, out_channels, in_channels, input);
    check_vector(kOp, "shortcut_bias", shortcut_bias, out_channels, input);
  } else {
    TORCH_CHECK(!shortcut_bias, kOp, "shortcut_bias needs a shortcut_weight");
    TORCH_CHECK(in_channels == out_channels, kOp, "an identity shortcut needs C_in == C_out, got ",
                in_channels, " and ", out_channels, " (give a shortcut_weight)");
  }
  return {n, in_channels, channels, hidden, out_channels, temporal_taps, g, act, se_act, gate_act};
}

// One sample's tensors as the passes read and write them (contiguous; nullptr: absent).
template <typename T>
struct BlockData {
  const T* frame;  // (C_in, H, W)
  const T* expand_weight;
  const T* expand_bias;
  const T* spatial_weight;
  const T* spatial_bias;
  const T* past[8];  // (E, H', W') planes of this sample, oldest first
  const T* temporal_weight;
  const T* temporal_bias;
  const T* previous_sum;  // (E,), or nullptr for a new stream
  const T* reduce_weight;
  const T* reduce_bias;
  const T* excite_weight;
  const T* excite_bias;
  const T* project_weight;
  const T* project_bias;
  const T* shortcut_weight;
  const T* shortcut_bias;
  T* depthwise;  // (E, H', W')
  T* spatial;    // (E, H', W') with a temporal stage, else nullptr
  T* sum;        // (E,) the new pooled sum
  T* out;        // (C_out, H', W')
};

// Pass 1, expand + depthwise, by chunks of expanded channels: writes depthwise, spatial and
// the planes' means.
template <typename T>
void expand_depthwise_pass(const BlockShape& b, const BlockData<T>& d, T* means) {
  const PlaneGeometry& g = b.g;
  const int64_t in_size = g.in_h * g.in_w, plane_size = g.out_h * g.out_w;
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t work = in_size * b.in_channels + g.span * taps + plane_size * 4;
  at::parallel_for(0, b.channels, chunk_of(b.channels, work), [&](int64_t begin, int64_t end) {
    T* expanded = thread_scratch<T>(ScratchSlot::kPlanes, (end - begin) * in_size);
    T* phases = thread_scratch<T>(ScratchSlot::kPhases, g.phases_numel());
    T* acc = thread_scratch<T>(ScratchSlot::kAccumulator, g.span);
    blas::gemm<T>(false, false, in_size, end - begin, b.in_channels, T(1), d.frame, in_size,
                  d.expand_weight + begin * b.in_channels, b.in_channels, T(0), expanded, in_size);
    for (int64_t c = begin; c < end; ++c) {
      PlaneTask<T> task{};
      task.in = expanded + (c - begin) * in_size;
      task.in_bias = d.expand_bias ? d.expand_bias[c] : T(0);
      task.spatial_weight = d.spatial_weight + c * taps;
      task.spatial_bias = d.spatial_bias ? d.spatial_bias[c] : T(0);
      for (int64_t i = 0; i + 1 < b.temporal_taps; ++i) {
        task.past[i] = d.past[i] + c * plane_size;
      }
      task.temporal_weight = d.temporal_weight ? d.temporal_weight + c * b.temporal_taps : nullptr;
      task.temporal_bias = d.temporal_bias ? d.temporal_bias[c] : T(0);
      task.temporal_taps = b.temporal_taps;
      task.spatial = d.spatial ? d.spatial + c * plane_size : nullptr;
      task.out = d.depthwise + c * plane_size;
      task.mean = means + c;
      plane(b.act, task, phases, acc, g);
    }
  });
}

// Pass 2, squeeze-excitation: the new pooled sum, and gates = rezero * gate(excite(act(
// reduce(concat(sum / (frames_seen + 1), means))))) as single-threaded GEMVs (BLAS,
// column-major: W^T of a row-major W). squeezed, hidden: scratch of 2E and H.
template <typename T>
void squeeze_excite_pass(const BlockShape& b, const BlockData<T>& d, int64_t frames_seen,
                         double rezero, const T* means, T* squeezed, T* hidden, T* gates) {
  const int64_t channels = b.channels;
  const T count = T(frames_seen + 1);
  for (int64_t c = 0; c < channels; ++c) {
    d.sum[c] = (d.previous_sum ? d.previous_sum[c] : T(0)) + means[c];
    squeezed[c] = d.sum[c] / count;
    squeezed[channels + c] = means[c];
  }
  for (int64_t h = 0; h < b.hidden; ++h) hidden[h] = d.reduce_bias ? d.reduce_bias[h] : T(0);
  blas::gemm<T>(true, false, b.hidden, 1, 2 * channels, T(1), d.reduce_weight, 2 * channels,
                squeezed, 2 * channels, T(1), hidden, b.hidden);
  for (int64_t h = 0; h < b.hidden; ++h) hidden[h] = activate(b.se_act, hidden[h]);
  for (int64_t c = 0; c < channels; ++c) gates[c] = d.excite_bias ? d.excite_bias[c] : T(0);
  blas::gemm<T>(true, false, channels, 1, b.hidden, T(1), d.excite_weight, b.hidden, hidden,
                b.hidden, T(1), gates, channels);
  for (int64_t c = 0; c < channels; ++c) gates[c] = T(rezero) * activate(b.gate_act, gates[c]);
}

// Pass 3, the shortcut's 3x3 stride-2 average pool of the frame into pooled (C_in, H', W'),
// over input channels.
template <typename T>
void shortcut_pool_pass(const BlockShape& b, const T* frame, T* pooled) {
  const PlaneGeometry& g = b.g;
  const int64_t in_size = g.in_h * g.in_w, plane_size = g.out_h * g.out_w;
  at::parallel_for(0, b.in_channels, chunk_of(b.in_channels, in_size * 2),
                   [&](int64_t begin, int64_t end) {
                     T* row = thread_scratch<T>(ScratchSlot::kPlanes, g.in_w);
                     for (int64_t c = begin; c < end; ++c) {
                       pool_plane(frame + c * in_size, g.in_h, g.in_w, pooled + c * plane_size,
                                  g.out_h, g.out_w, row);
                     }
                   });
}

// Pass 4, out = shortcut + rezero * project(gates * depthwise), by chunks of output channels:
// the chunk's project rows scaled by the gates, the shortcut GEMM (or a copy of
// shortcut_in), the project GEMM accumulating onto the biases.
template <typename T>
void project_pass(const BlockShape& b, const BlockData<T>& d, double rezero, const T* gates,
                  const T* shortcut_in) {
  const int64_t channels = b.channels, plane_size = b.g.out_h * b.g.out_w;
  const int64_t work = plane_size * (channels + (d.shortcut_weight ? b.in_channels : 0));
  at::parallel_for(
      0, b.out_channels, chunk_of(b.out_channels, work), [&](int64_t begin, int64_t end) {
        T* weight = thread_scratch<T>(ScratchSlot::kWeights, (end - begin) * channels);
        T* dst = d.out + begin * plane_size;
        for (int64_t o = begin; o < end; ++o) {
          const T* row = d.project_weight + o * channels;
          T* scaled = weight + (o - begin) * channels;
          for (int64_t c = 0; c < channels; ++c) scaled[c] = row[c] * gates[c];
          const T shift = (d.project_bias ? T(rezero) * d.project_bias[o] : T(0)) +
                          (d.shortcut_bias ? d.shortcut_bias[o] : T(0));
          T* plane_out = d.out + o * plane_size;
          if (d.shortcut_weight) {
            std::fill(plane_out, plane_out + plane_size, shift);
          } else {
            const T* r = shortcut_in + o * plane_size;
            for (int64_t q = 0; q < plane_size; ++q) plane_out[q] = r[q] + shift;
          }
        }
        if (d.shortcut_weight) {
          blas::gemm<T>(false, false, plane_size, end - begin, b.in_channels, T(1), shortcut_in,
                        plane_size, d.shortcut_weight + begin * b.in_channels, b.in_channels, T(1),
                        dst, plane_size);
        }
        blas::gemm<T>(false, false, plane_size, end - begin, channels, T(1), d.depthwise,
                      plane_size, weight, channels, T(1), dst, plane_size);
      });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> movinet_block_frame_cpu(
    const at::Tensor& input, const at::Tensor& expand_weight,
    const std::optional<at::Tensor>& expand_bias, const at::Tensor& spatial_weight,
    const std::optional<at::Tensor>& spatial_bias, at::IntArrayRef stride, at::IntArrayRef padding,
    at::TensorList past, const std::optional<at::Tensor>& temporal_weight,
    const std::optional<at::Tensor>& temporal_bias, c10::string_view activation,
    const std::optional<at::Tensor>& pooled_sum, int64_t frames_seen,
    const at::Tensor& reduce_weight, const std::optional<at::Tensor>& reduce_bias,
    const at::Tensor& excite_weight, const std::optional<at::Tensor>& excite_bias,
    c10::string_view se_activation, c10::string_view gate, const at::Tensor& project_weight,
    const std::optional<at::Tensor>& project_bias, double rezero, bool shortcut_pool,
    const std::optional<at::Tensor>& shortcut_weight,
    const std::optional<at::Tensor>& shortcut_bias) {
  const BlockShape b = check_block_frame_args(
      input, expand_weight, expand_bias, spatial_weight, spatial_bias, stride, padding, past,
      temporal_weight, temporal_bias, activation, pooled_sum, reduce_weight, reduce_bias,
      excite_weight, excite_bias, se_activation, gate, project_weight, project_bias, shortcut_pool,
      shortcut_weight, shortcut_bias);
  const int64_t n = b.n, channels = b.channels;
  const int64_t in_size = b.g.in_h * b.g.in_w, plane_size = b.g.out_h * b.g.out_w;
  const at::Tensor x = input.contiguous(), we = expand_weight.contiguous();
  const at::Tensor be = contiguous_or_undefined(expand_bias);
  const at::Tensor sw = spatial_weight.contiguous(), sb = contiguous_or_undefined(spatial_bias);
  const at::Tensor tw = contiguous_or_undefined(temporal_weight);
  const at::Tensor tb = contiguous_or_undefined(temporal_bias);
  std::vector<at::Tensor> frames;
  for (const at::Tensor& frame : past) frames.push_back(frame.contiguous());
  const at::Tensor ps = contiguous_or_undefined(pooled_sum);
  const at::Tensor wr = reduce_weight.contiguous(), br = contiguous_or_undefined(reduce_bias);
  const at::Tensor wx = excite_weight.contiguous(), bx = contiguous_or_undefined(excite_bias);
  const at::Tensor wp = project_weight.contiguous(), bp = contiguous_or_undefined(project_bias);
  const at::Tensor ws = contiguous_or_undefined(shortcut_weight);
  const at::Tensor bs = contiguous_or_undefined(shortcut_bias);

  at::Tensor depthwise = at::empty({n, channels, b.g.out_h, b.g.out_w}, x.options());
  at::Tensor spatial = temporal_weight ? at::empty_like(depthwise) : at::empty({0}, x.options());
  at::Tensor new_sum = at::empty({n, channels}, x.options());
  at::Tensor out = at::empty({n, b.out_channels, b.g.out_h, b.g.out_w}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "movinet_block_frame_cpu", [&] {
    using T = scalar_t;
    // per call; left uninitialised: every element is written before it is read
    std::unique_ptr<T[]> pooled(new T[shortcut_pool ? b.in_channels * plane_size : 0]);
    std::vector<T> means(channels), squeezed(2 * channels), hidden(b.hidden), gates(channels);
    for (int64_t s = 0; s < n; ++s) {
      BlockData<T> d{};
      d.frame = x.const_data_ptr<T>() + s * b.in_channels * in_size;
      d.expand_weight = we.const_data_ptr<T>();
      d.expand_bias = data_or_null<T>(be);
      d.spatial_weight = sw.const_data_ptr<T>();
      d.spatial_bias = data_or_null<T>(sb);
      for (size_t i = 0; i < frames.size(); ++i) {
        d.past[i] = frames[i].const_data_ptr<T>() + s * channels * plane_size;
      }
      d.temporal_weight = data_or_null<T>(tw);
      d.temporal_bias = data_or_null<T>(tb);
      d.previous_sum = ps.defined() ? ps.const_data_ptr<T>() + s * channels : nullptr;
      d.reduce_weight = wr.const_data_ptr<T>();
      d.reduce_bias = data_or_null<T>(br);
      d.excite_weight = wx.const_data_ptr<T>();
      d.excite_bias = data_or_null<T>(bx);
      d.project_weight = wp.const_data_ptr<T>();
      d.project_bias = data_or_null<T>(bp);
      d.shortcut_weight = data_or_null<T>(ws);
      d.shortcut_bias = data_or_null<T>(bs);
      d.depthwise = depthwise.mutable_data_ptr<T>() + s * channels * plane_size;
      d.spatial =
          temporal_weight ? spatial.mutable_data_ptr<T>() + s * channels * plane_size : nullptr;
      d.sum = new_sum.mutable_data_ptr<T>() + s * channels;
      d.out = out.mutable_data_ptr<T>() + s * b.out_channels * plane_size;
      expand_depthwise_pass(b, d, means.data());
      squeeze_excite_pass(b, d, frames_seen, rezero, means.data(), squeezed.data(), hidden.data(),
                          gates.data());
      if (shortcut_pool) shortcut_pool_pass(b, d.frame, pooled.get());
      project_pass(b, d, rezero, gates.data(), shortcut_pool ? pooled.get() : d.frame);
    }
  });
  return {out, spatial, new_sum};
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("movinet_block_frame", &movinet_block_frame_cpu); }

}  // namespace mmeff
