// Train-mode BatchNorm of a frozen stage (nothing needs a gradient) on an NCHW float batch, with libtorch's
// numbers bit for bit and its batch statistics computed several times faster.
//
// libtorch's contiguous statistics kernel walks each channel alone, adding one float at a time into one double
// (the sum, then the squared deviations from the float mean): a chain of dependent additions that keeps the CPU
// waiting on each, 6.7% of a seed-recipe trial's samples. Here each channel's two sums are the same additions in
// the same order (batch, then position), so their values are the same, but blocks of channels run side by side,
// so the chains overlap (8 AVX2 lanes where the CPU has them). The running statistics, the saved inverse
// deviation and the per-channel scale and shift follow libtorch's `batch_norm_cpu_update_stats_template` and
// `batch_norm_cpu_collect_linear_and_constant_terms` expression for expression (same types, so the same
// roundings). The normalisation itself is libtorch's own kernel, called in eval mode with that scale as weight,
// that shift as bias, mean 0 and a variance whose `1 / sqrt(var + eps)` is exactly 1: it then applies
// `x * scale + shift` with the code train mode uses. How libtorch's build rounds the shift is found once per
// process by a probe against its own train mode; where neither rounding matches, and for anything else (other
// types or layouts, a gradient needed, planes of one pixel) this returns null and the caller uses libtorch's.
//
// Compiled without floating-point contraction (build.rs): no fused multiply-add may merge two roundings.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#if defined(__x86_64__)
#include <immintrin.h>
#define SWEEP_BN_AVX2 1
#endif
#include <exception>
#include <optional>
#include <vector>

namespace {

// Channels whose sums run side by side.
constexpr int64_t LANES = 8;

// Sums of `lanes` channels starting at `c0`: mean (float of the double sum over count) and the double sum of the
// squared float deviations, each in libtorch's order: batch index, then position in the plane.
template <int64_t L>
void channel_block(const float *x, int64_t batch, int64_t channels, int64_t image, int64_t c0, int64_t lanes,
                   float *mean, float *var_sum) {
  const int64_t count = batch * image;
  double sum[L > 0 ? L : LANES] = {};
  const int64_t width = L > 0 ? L : lanes;
  for (int64_t n = 0; n < batch; ++n) {
    const float *plane = x + (n * channels + c0) * image;
    for (int64_t i = 0; i < image; ++i) {
      for (int64_t l = 0; l < width; ++l) {
        sum[l] += plane[l * image + i];
      }
    }
  }
  float m[L > 0 ? L : LANES];
  for (int64_t l = 0; l < width; ++l) {
    double mean_val = sum[l] / count;
    m[l] = static_cast<float>(mean_val);
    sum[l] = 0;
  }
  for (int64_t n = 0; n < batch; ++n) {
    const float *plane = x + (n * channels + c0) * image;
    for (int64_t i = 0; i < image; ++i) {
      for (int64_t l = 0; l < width; ++l) {
        float v = plane[l * image + i];
        sum[l] += (v - m[l]) * (v - m[l]);
      }
    }
  }
  for (int64_t l = 0; l < width; ++l) {
    mean[c0 + l] = m[l];
    var_sum[c0 + l] = static_cast<float>(sum[l]);
  }
}

#ifdef SWEEP_BN_AVX2
// AVX2 (chosen at run time): a block of 8 channels, one lane each, the same additions as `channel_block`. Each
// step loads 8 positions of each channel and transposes them, so a vector holds one position of all 8 channels;
// adding the vectors position after position keeps every lane's order (batch, then position).
__attribute__((target("avx2"))) inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// lo, hi += the 8 floats of `v` widened to double (lanes 0-3, 4-7).
__attribute__((target("avx2"))) inline void widen_add(__m256d &lo, __m256d &hi, __m256 v) {
  lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

// One pass over the block: lo, hi += each position's values (CENTRED: their squared deviation from `mean`, in
// float), position after position.
template <bool CENTRED>
__attribute__((target("avx2"))) void block8_pass(const float *x, int64_t batch, int64_t channels, int64_t image,
                                                 int64_t c0, __m256 mean, __m256d &lo, __m256d &hi) {
  auto term = [](__m256 v, __m256 m) __attribute__((target("avx2"))) {
    if (CENTRED) {
      __m256 d = _mm256_sub_ps(v, m);
      return _mm256_mul_ps(d, d);
    }
    return v;
  };
  for (int64_t n = 0; n < batch; ++n) {
    const float *plane = x + (n * channels + c0) * image;
    int64_t i = 0;
    for (; i + 8 <= image; i += 8) {
      __m256 r[8];
      for (int l = 0; l < 8; ++l) {
        r[l] = _mm256_loadu_ps(plane + l * image + i);
      }
      transpose8(r);
      for (int j = 0; j < 8; ++j) {
        widen_add(lo, hi, term(r[j], mean));
      }
    }
    for (; i < image; ++i) {
      alignas(32) float column[8];
      for (int l = 0; l < 8; ++l) {
        column[l] = plane[l * image + i];
      }
      widen_add(lo, hi, term(_mm256_load_ps(column), mean));
    }
  }
}

__attribute__((target("avx2"))) void block8_avx2(const float *x, int64_t batch, int64_t channels, int64_t image,
                                                 int64_t c0, float *mean, float *var_sum) {
  const int64_t count = batch * image;
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  block8_pass<false>(x, batch, channels, image, c0, _mm256_setzero_ps(), lo, hi);
  alignas(32) double sum[8];
  _mm256_store_pd(sum, lo);
  _mm256_store_pd(sum + 4, hi);
  alignas(32) float m[8];
  for (int l = 0; l < 8; ++l) {
    double mean_val = sum[l] / count;
    m[l] = static_cast<float>(mean_val);
  }
  lo = _mm256_setzero_pd();
  hi = _mm256_setzero_pd();
  block8_pass<true>(x, batch, channels, image, c0, _mm256_load_ps(m), lo, hi);
  _mm256_store_pd(sum, lo);
  _mm256_store_pd(sum + 4, hi);
  for (int l = 0; l < 8; ++l) {
    mean[c0 + l] = m[l];
    var_sum[c0 + l] = static_cast<float>(sum[l]);
  }
}

#endif

void collect_stats(const float *x, int64_t batch, int64_t channels, int64_t image, float *mean, float *var_sum) {
#ifdef SWEEP_BN_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
#endif
  const int64_t blocks = (channels + LANES - 1) / LANES;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * LANES, lanes = std::min(LANES, channels - c0);
#ifdef SWEEP_BN_AVX2
      if (lanes == LANES && avx2) {
        block8_avx2(x, batch, channels, image, c0, mean, var_sum);
        continue;
      }
#endif
      if (lanes == LANES) {
        channel_block<LANES>(x, batch, channels, image, c0, lanes, mean, var_sum);
      } else {
        channel_block<0>(x, batch, channels, image, c0, lanes, mean, var_sum);
      }
    }
  });
}

// libtorch's InvStd<double>.
double inv_std(double var, double eps) {
  double invstd = 0;
  if (var != 0 || eps != 0) {
    invstd = 1 / std::sqrt(var + eps);
  }
  return invstd;
}

// A float variance whose eval-mode inverse deviation, `1 / sqrt(var + eps)` in float, is exactly 1.
bool unit_variance(float eps, float *out) {
  float v = 1.0f - eps;
  for (int step = 0; step < 8; ++step) {
    float sum = v + eps;
    if (sum == 1.0f) {
      *out = v;
      return 1 / std::sqrt(sum) == 1.0f;
    }
    v = sum > 1.0f ? std::nextafter(v, 0.0f) : std::nextafter(v, 2.0f);
  }
  return false;
}

bool covered(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, const at::Tensor &rm,
             const at::Tensor &rv) {
  if (x.dim() < 3 || x.scalar_type() != at::kFloat || !x.is_contiguous() || x.numel() == 0 ||
      x.requires_grad()) {
    return false;
  }
  for (const at::Tensor *t : {&w, &b, &rm, &rv}) {
    if (!t->defined() || t->scalar_type() != at::kFloat || !t->is_contiguous() || t->dim() != 1 ||
        t->size(0) != x.size(1) || t->requires_grad()) {
      return false;
    }
  }
  // Planes of one value (N x C x 1 x 1) are also channels-last, and libtorch takes its channels-last
  // statistics for them, summed in float per thread: left to libtorch, as is one value per channel, which train
  // mode refuses.
  return x.numel() / x.size(0) / x.size(1) > 1;
}

// How libtorch's CPU kernel rounds the shift `bias - mean * scale`: once (a fused multiply-add, as its
// vectorised builds compile it) or twice.
enum class Shift { Fused, Rounded };

// The batch norm itself (see the top of the file); `x` and the parameters are covered. False with nothing
// changed when eps leaves no variance of inverse deviation 1.
bool forward(const at::Tensor &x, const at::Tensor &weight, const at::Tensor &bias, at::Tensor &running_mean,
             at::Tensor &running_var, double momentum, double eps, Shift shift, at::Tensor *out) {
  float unit_var;
  if (!unit_variance(static_cast<float>(eps), &unit_var)) {
    return false;
  }
  const int64_t batch = x.size(0), channels = x.size(1);
  const int64_t image = x.numel() / batch / channels;
  const int64_t n = x.numel() / channels;
  at::Tensor mean = at::empty({channels}, x.options());
  at::Tensor var_sum = at::empty({channels}, x.options());
  collect_stats(x.data_ptr<float>(), batch, channels, image, mean.data_ptr<float>(), var_sum.data_ptr<float>());

  // batch_norm_cpu_update_stats_template's contiguous branch, with InvStd, then the scale and shift that
  // batch_norm_cpu_collect_linear_and_constant_terms derives from the saved mean and inverse deviation.
  const float *mean_a = mean.data_ptr<float>(), *var_sum_a = var_sum.data_ptr<float>();
  const float *w = weight.data_ptr<float>(), *b = bias.data_ptr<float>();
  at::Tensor alpha = at::empty({channels}, x.options()), beta = at::empty({channels}, x.options());
  at::Tensor zero_mean = at::empty({channels}, x.options());
  at::Tensor unit = at::full({channels}, unit_var, x.options());
  float *alpha_a = alpha.data_ptr<float>(), *beta_a = beta.data_ptr<float>();
  float *zero_a = zero_mean.data_ptr<float>();
  for (int64_t f = 0; f < channels; ++f) {
    float save_invstd = static_cast<float>(inv_std(var_sum_a[f] / n, eps));
    alpha_a[f] = save_invstd * w[f];
    beta_a[f] = shift == Shift::Fused ? std::fma(-mean_a[f], alpha_a[f], b[f]) : b[f] - mean_a[f] * alpha_a[f];
    // Eval mode then computes alpha * 1 and beta - zero * alpha: this zero's sign makes that product +0.
    zero_a[f] = std::copysign(0.0f, alpha_a[f]);
  }
  float *rm = running_mean.data_ptr<float>(), *rv = running_var.data_ptr<float>();
  const float momentum_ = static_cast<float>(momentum);
  for (int64_t f = 0; f < channels; ++f) {
    rm[f] = momentum_ * mean_a[f] + (1 - momentum_) * rm[f];
    double unbiased_var = var_sum_a[f] / (n - 1);
    rv[f] = momentum_ * unbiased_var + (1 - momentum_) * rv[f];
  }
  running_mean.unsafeGetTensorImpl()->bump_version();
  running_var.unsafeGetTensorImpl()->bump_version();
  // Eval mode with weight alpha, bias beta, mean 0 and a variance whose inverse deviation is exactly 1:
  // libtorch's own kernel applies x * alpha + beta, as train mode would.
  *out = at::batch_norm(x, alpha, beta, zero_mean, unit, /*training=*/false, momentum, eps,
                        /*cudnn_enabled=*/false);
  return true;
}

// Values from a fixed generator (not libtorch's, which trials never draw from): uniform in [lo, hi).
at::Tensor probe_values(std::vector<int64_t> shape, uint64_t seed, float lo, float hi) {
  at::Tensor t = at::empty(shape, at::kFloat);
  float *p = t.data_ptr<float>();
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    float u = static_cast<float>(state >> 40) / static_cast<float>(1ull << 24);
    p[i] = lo + (hi - lo) * u;
  }
  return t;
}

// Which shift rounding gives libtorch's train-mode numbers on this machine, bit for bit (output and both
// running statistics, on a probe batch), or none: then the kernel is never used in this process.
std::optional<Shift> probe() {
  const int64_t c = 24;
  at::Tensor x = at::relu(probe_values({16, c, 5, 5}, 1, -2.0f, 3.0f));
  at::Tensor w = probe_values({c}, 2, 0.5f, 1.5f), b = probe_values({c}, 3, -0.2f, 0.2f);
  at::Tensor rm0 = probe_values({c}, 4, -0.3f, 0.3f), rv0 = probe_values({c}, 5, 0.1f, 1.1f);
  at::Tensor rm = rm0.clone(), rv = rv0.clone();
  at::Tensor want = at::batch_norm(x, w, b, rm, rv, /*training=*/true, 0.1, 1e-5, false);
  for (Shift shift : {Shift::Fused, Shift::Rounded}) {
    at::Tensor rm2 = rm0.clone(), rv2 = rv0.clone(), got;
    if (forward(x, w, b, rm2, rv2, 0.1, 1e-5, shift, &got) && at::equal(got, want) && at::equal(rm2, rm) &&
        at::equal(rv2, rv)) {
      return shift;
    }
  }
  return std::nullopt;
}

} // namespace

// Train-mode batch norm as described above: updates `running_mean` and `running_var` in place and returns the
// output, or returns null (nothing changed) for an input it does not cover, on a machine where the probe found
// no exact match, or when libtorch failed (message in `err`).
extern "C" at::Tensor *sweep_batch_norm_frozen_train(at::Tensor *x, at::Tensor *weight, at::Tensor *bias,
                                                     at::Tensor *running_mean, at::Tensor *running_var,
                                                     double momentum, double eps, char *err, size_t err_len) {
  try {
    err[0] = 0;
    if (!covered(*x, *weight, *bias, *running_mean, *running_var)) {
      return nullptr;
    }
    static const std::optional<Shift> shift = probe();
    at::Tensor out;
    if (!shift || !forward(*x, *weight, *bias, *running_mean, *running_var, momentum, eps, *shift, &out)) {
      return nullptr;
    }
    return new at::Tensor(std::move(out));
  } catch (const std::exception &e) {
    std::snprintf(err, err_len, "%s", e.what());
    return nullptr;
  }
}

// Whether the kernel is in use in this process (the probe found libtorch's rounding), for the tests.
extern "C" int sweep_batch_norm_frozen_active() {
  at::Tensor x = probe_values({2, 2, 2, 2}, 9, 0.0f, 1.0f);
  at::Tensor w = at::ones({2}), b = at::zeros({2}), rm = at::zeros({2}), rv = at::ones({2});
  char err[256];
  at::Tensor *out = sweep_batch_norm_frozen_train(&x, &w, &b, &rm, &rv, 0.1, 1e-5, err, sizeof err);
  int active = out != nullptr;
  delete out;
  return active;
}
