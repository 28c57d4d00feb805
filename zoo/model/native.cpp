// zoo's own CPU matrix-vector kernels (zoo/model/native.py builds this file on the machine that
// runs it, with -march=native, and loads it as torch.ops.zoo).
//
// Decoding one token multiplies a few rows of activations by every weight of the model once,
// so a step's time is the time to stream the weights from memory. torch's kernels for a few
// rows stream small matrices at a third to a half of the machine's bandwidth on the CPUs this
// project measures (tools/bench_decode.py); these stream them near it. Each kernel:
//
//   y[m, n] = sum_k x[m, k] * W[n, k]          x: (M, K) rows, W: (N, K), y: (M, N) fp32
//
// walks W once, row after row (at::parallel_for splits the rows over torch's own threads),
// and for each row of W reads up to four rows of x (a small batch), which stay in the L1
// cache: the weight's bytes are read once however many rows there are. The products are exact
// and accumulated in fp32 (16 lanes, then one sum), so a result differs from torch's only by
// the order of fp32 additions.
//
// Weights, by kernel:
//   linear_f32:  W fp32 (N, K), x fp32;
//   linear_bf16: W bf16 (N, K), x rounded to bf16 (once per call, where it is not bf16
//                already): AVX-512 BF16's dot product multiplies pairs exactly, sums in fp32;
//   linear_int8: codes int8 (N, K) and a bf16 scale per row: W[n, k] = code * scale[n];
//                x as given (fp32, or converted to it once per call);
//   linear_int4: 4-bit codes q, two per byte (N, K / 2): each 32 bytes hold 64 inputs, input j
//                in the low nibble of byte j and input 32 + j in its high nibble; a bf16 scale
//                and zero per group of 32 inputs, W = (q - 8) * scale + zero: the scales
//                (N, K / 32), the zeros per tile of 16 rows (N / 16, K / 32, 16);
//                x rounded to bf16 (once per call, where it is not bf16 already). (q - 8) is
//                exact in bf16, so AVX-512 BF16's dot product multiplies it by x exactly; the
//                group's sum is then scaled in fp32, and the zero term is zero * (the group's
//                sum of x), one dot product per row.
//
// Then the one-call forms of fp32 decoding, which replace many small torch calls each: an
// RMSNorm (and a LayerNorm, for blocks), one attention layer's decoding step, and a whole
// block's (decode_block: norms, attention, MLP, residual sums, each projection on the kernel
// measured for it, zoo's above or torch's).
// Needs AVX-512 F, BW and BF16 (checked in native.py before building).

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/_weight_int4pack_mm_for_cpu.h>
#include <ATen/ops/_weight_int8pack_mm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/linear.h>
#include <torch/library.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr int kBatch = 4;                   // rows of x per pass over the weight
constexpr int kTile = 16;                   // rows of W summed together (one vector of sums)
constexpr int64_t kChunkBytes = 48 * 1024;  // weight bytes per thread's task, at least

__mmask16 tail_mask(int64_t left) {  // the first `left` (< 16) of 16 lanes
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

__m512 bf16_to_f32(__m256i halves) {  // 16 bf16 -> 16 fp32 (the high half of an fp32)
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
}

// The sums of the lanes of 16 vectors, as one vector: lane i = sum of v[i]'s lanes (a tree of
// 30 shuffles and 15 additions, where summing each vector alone takes 4 and 4 apiece).
__m512 reduce16(const __m512* v) {
  __m512 pairs[8], quads[4];
  for (int i = 0; i < 8; i++)  // per 128-bit lane: partial sums of rows 2i, 2i + 1
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; i++)  // per 128-bit lane: partial sums of rows 4i .. 4i + 3
    quads[i] = _mm512_add_ps(_mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], 0xEE));
  __m512 low = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88),
                             _mm512_shuffle_f32x4(quads[0], quads[1], 0xDD));
  __m512 high = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88),
                              _mm512_shuffle_f32x4(quads[2], quads[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(low, high, 0x88),
                       _mm512_shuffle_f32x4(low, high, 0xDD));
}

// y (M, N) fp32, the products of x's M rows by W's N rows: W's rows split over torch's threads
// in whole tiles, each task at least kChunkBytes of weights, and x's rows taken kBatch at a
// time, body.template operator()<B>(m0, y + m0 * N, n0, n1) computing rows m0 .. m0 + B of y
// over W's rows [n0, n1) (B a compile-time constant, so each batch's accumulators live in
// registers).
template <typename Body>
at::Tensor product_rows(const at::Tensor& x, int64_t N, int64_t row_bytes, Body body) {
  const int64_t M = x.size(0), tiles = (N + kTile - 1) / kTile;
  at::Tensor y = at::empty({M, N}, x.options().dtype(at::kFloat));
  float* yp = y.data_ptr<float>();
  int64_t grain = kChunkBytes / (kTile * (row_bytes > 0 ? row_bytes : 1));
  at::parallel_for(0, tiles, grain < 1 ? 1 : grain, [&](int64_t t0, int64_t t1) {
    const int64_t n0 = t0 * kTile, n1 = t1 * kTile < N ? t1 * kTile : N;
    for (int64_t m0 = 0; m0 < M; m0 += kBatch) {
      switch (M - m0 < kBatch ? M - m0 : kBatch) {
        case 1: body.template operator()<1>(m0, yp + m0 * N, n0, n1); break;
        case 2: body.template operator()<2>(m0, yp + m0 * N, n0, n1); break;
        case 3: body.template operator()<3>(m0, yp + m0 * N, n0, n1); break;
        default: body.template operator()<4>(m0, yp + m0 * N, n0, n1); break;
      }
    }
  });
  return y;
}

// y[b * N + n] for n in [n0, n1), b < B: row(n, acc) leaves in acc[b] a vector whose lanes sum
// to it; whole tiles of 16 rows are summed together (reduce16) and stored in one go.
template <int B, typename Row>
void sum_rows(int64_t n0, int64_t n1, int64_t N, float* y, Row row) {
  alignas(64) __m512 tile[B][kTile];
  __m512 acc[B];
  int64_t n = n0;
  for (; n + kTile <= n1; n += kTile) {
    for (int r = 0; r < kTile; r++) {
      row(n + r, acc);
      for (int b = 0; b < B; b++) tile[b][r] = acc[b];
    }
    for (int b = 0; b < B; b++) _mm512_storeu_ps(y + b * N + n, reduce16(tile[b]));
  }
  for (; n < n1; n++) {
    row(n, acc);
    for (int b = 0; b < B; b++) y[b * N + n] = _mm512_reduce_add_ps(acc[b]);
  }
}

// x as `dtype`, contiguous (a copy only where it is not already)
at::Tensor rows_as(const at::Tensor& x, at::ScalarType dtype, int64_t K, const char* op) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == K && at::isFloatingType(x.scalar_type()), op,
              ": x must be floating-point (rows, ", K, "), got ", x.sizes(), " ",
              x.scalar_type());
  return x.to(dtype).contiguous();
}

void check_weight(const at::Tensor& t, at::ScalarType dtype, at::IntArrayRef shape,
                  const char* op, const char* name) {
  TORCH_CHECK(t.scalar_type() == dtype && t.is_contiguous() && t.sizes() == shape, op, ": ",
              name, " must be contiguous ", shape, " ", c10::toString(dtype), ", got ",
              t.sizes(), " ", t.scalar_type());
}

// ---- fp32 -----------------------------------------------------------------------------------

// 16 weights in fp32: fp32 ones as they are, int8 codes widened (the first lanes of `mask`)
__m512 widen(const float* w) { return _mm512_loadu_ps(w); }
__m512 widen(const float* w, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, w); }
__m512 widen(const int8_t* w) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)w)));
}
__m512 widen(const int8_t* w, __mmask16 mask) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, w)));
}

// The fp32 and int8 kernels' rows: fp32 x by W's rows widened to fp32 (T: float or int8_t),
// each row's sums then passed through scaled(n, sums) (int8: times the row's scale)
template <int B, typename T, typename Scaled>
void widened_rows(const float* x, int64_t K, const T* w, float* y, int64_t N, int64_t n0,
                  int64_t n1, Scaled scaled) {
  sum_rows<B>(n0, n1, N, y, [&](int64_t n, __m512* out) {
    const T* row = w + n * K;
    __m512 acc[B][2];
    for (int b = 0; b < B; b++) acc[b][0] = acc[b][1] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      __m512 w0 = widen(row + k), w1 = widen(row + k + 16);
      for (int b = 0; b < B; b++) {
        acc[b][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + b * K + k), acc[b][0]);
        acc[b][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + b * K + k + 16), acc[b][1]);
      }
    }
    for (; k < K; k += 16) {
      __mmask16 mask = tail_mask(K - k);
      __m512 w0 = widen(row + k, mask);
      for (int b = 0; b < B; b++)
        acc[b][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(mask, x + b * K + k), acc[b][0]);
    }
    for (int b = 0; b < B; b++) out[b] = scaled(n, _mm512_add_ps(acc[b][0], acc[b][1]));
  });
}

at::Tensor linear_f32(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(w.dim() == 2, "linear_f32: the weight must be (out, in)");
  const int64_t N = w.size(0), K = w.size(1);
  TORCH_CHECK(x.scalar_type() == at::kFloat, "linear_f32: x must be fp32, got ", x.scalar_type());
  at::Tensor xf = rows_as(x, at::kFloat, K, "linear_f32");
  check_weight(w, at::kFloat, {N, K}, "linear_f32", "the weight");
  const float* xp = xf.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  return product_rows(x, N, K * 4, [&]<int B>(int64_t m0, float* y, int64_t n0, int64_t n1) {
    widened_rows<B>(xp + m0 * K, K, wp, y, N, n0, n1, [](int64_t, __m512 v) { return v; });
  });
}

// ---- bf16 -----------------------------------------------------------------------------------

template <int B>
void bf16_rows(const at::BFloat16* x, int64_t K, const at::BFloat16* w, float* y, int64_t N,
               int64_t n0, int64_t n1) {
  sum_rows<B>(n0, n1, N, y, [&](int64_t n, __m512* out) {
    const at::BFloat16* row = w + n * K;
    __m512 acc[B][2];
    for (int b = 0; b < B; b++) acc[b][0] = acc[b][1] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {  // pairs of bf16 products, exact, summed in fp32
      __m512bh w0 = (__m512bh)_mm512_loadu_si512(row + k);
      __m512bh w1 = (__m512bh)_mm512_loadu_si512(row + k + 32);
      for (int b = 0; b < B; b++) {
        acc[b][0] = _mm512_dpbf16_ps(acc[b][0], w0, (__m512bh)_mm512_loadu_si512(x + b * K + k));
        acc[b][1] =
            _mm512_dpbf16_ps(acc[b][1], w1, (__m512bh)_mm512_loadu_si512(x + b * K + k + 32));
      }
    }
    for (; k < K; k += 32) {
      const int64_t left = K - k;
      const __mmask32 mask = left >= 32 ? ~0u : (1u << left) - 1;
      __m512bh w0 = (__m512bh)_mm512_maskz_loadu_epi16(mask, row + k);
      for (int b = 0; b < B; b++)
        acc[b][0] = _mm512_dpbf16_ps(acc[b][0], w0,
                                     (__m512bh)_mm512_maskz_loadu_epi16(mask, x + b * K + k));
    }
    for (int b = 0; b < B; b++) out[b] = _mm512_add_ps(acc[b][0], acc[b][1]);
  });
}

at::Tensor linear_bf16(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(w.dim() == 2, "linear_bf16: the weight must be (out, in)");
  const int64_t N = w.size(0), K = w.size(1);
  at::Tensor xb = rows_as(x, at::kBFloat16, K, "linear_bf16");
  check_weight(w, at::kBFloat16, {N, K}, "linear_bf16", "the weight");
  const at::BFloat16* xp = xb.data_ptr<at::BFloat16>();
  const at::BFloat16* wp = w.data_ptr<at::BFloat16>();
  return product_rows(x, N, K * 2, [&]<int B>(int64_t m0, float* y, int64_t n0, int64_t n1) {
    bf16_rows<B>(xp + m0 * K, K, wp, y, N, n0, n1);
  });
}

// ---- int8 codes, a scale per row --------------------------------------------------------------

at::Tensor linear_int8(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scale) {
  TORCH_CHECK(codes.dim() == 2, "linear_int8: the codes must be (out, in)");
  const int64_t N = codes.size(0), K = codes.size(1);
  at::Tensor xf = rows_as(x, at::kFloat, K, "linear_int8");
  check_weight(codes, at::kChar, {N, K}, "linear_int8", "the codes");
  check_weight(scale, at::kBFloat16, {N}, "linear_int8", "the scales");
  const float* xp = xf.data_ptr<float>();
  const int8_t* wp = codes.data_ptr<int8_t>();
  const at::BFloat16* sp = scale.data_ptr<at::BFloat16>();
  return product_rows(x, N, K, [&]<int B>(int64_t m0, float* y, int64_t n0, int64_t n1) {
    widened_rows<B>(xp + m0 * K, K, wp, y, N, n0, n1, [&](int64_t n, __m512 v) {
      return _mm512_mul_ps(v, _mm512_set1_ps(static_cast<float>(sp[n])));
    });
  });
}

// ---- int4 codes, a scale and zero per group of 32 ----------------------------------------------

// (q - 8) in bf16 for q = 0..15, twice (vpermw indexes 32 words; a nibble reads the first 16)
__m512i levels() {
  return _mm512_set_epi16(0x40E0, 0x40C0, 0x40A0, 0x4080, 0x4040, 0x4000, 0x3F80, 0x0000,
                          -16512, -16384, -16320, -16256, -16224, -16192, -16160, -16128,
                          0x40E0, 0x40C0, 0x40A0, 0x4080, 0x4040, 0x4000, 0x3F80, 0x0000,
                          -16512, -16384, -16320, -16256, -16224, -16192, -16160, -16128);
}

// Whole tiles of 16 rows [n0, n1): per tile, its rows' scales in fp32 (16 G contiguous bf16),
// its zero terms for 16 rows at once (zeros stored per tile, group, row: (N / 16, G, 16)),
// then each row's groups, the 16 rows summed together.
template <int B>
void int4_rows(const at::BFloat16* x, int64_t K, const uint8_t* w, const at::BFloat16* scales,
               const at::BFloat16* zeros, const float* xsum, float* y, int64_t N, int64_t n0,
               int64_t n1) {
  const int64_t G = K / 32;
  const __m512i nibble = _mm512_set1_epi16(15), table = levels();
  std::vector<float> scale(kTile * G);
  alignas(64) __m512 tile[B][kTile];
  for (int64_t t = n0; t < n1; t += kTile) {
    const at::BFloat16* s = scales + t * G;
    for (int64_t i = 0; i < kTile * G; i += 16)
      _mm512_storeu_ps(scale.data() + i, bf16_to_f32(_mm256_loadu_si256((const __m256i*)(s + i))));
    __m512 zero_term[B];  // lane r: row t + r's sum over groups of zero * (the group's sum of x)
    for (int b = 0; b < B; b++) zero_term[b] = _mm512_setzero_ps();
    const at::BFloat16* z = zeros + t * G;
    for (int64_t g = 0; g < G; g++) {
      __m512 zv = bf16_to_f32(_mm256_loadu_si256((const __m256i*)(z + g * kTile)));
      for (int b = 0; b < B; b++)
        zero_term[b] = _mm512_fmadd_ps(zv, _mm512_set1_ps(xsum[b * G + g]), zero_term[b]);
    }
    for (int r = 0; r < kTile; r++) {
      const uint8_t* row = w + (t + r) * (K / 2);
      const float* sr = scale.data() + r * G;
      __m512 acc[B][2];
      for (int b = 0; b < B; b++) acc[b][0] = acc[b][1] = _mm512_setzero_ps();
      for (int64_t j = 0; j < K / 64; j++) {  // 64 inputs: groups 2j (low nibbles), 2j + 1
        __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(row + 32 * j)));
        __m512bh low = (__m512bh)_mm512_permutexvar_epi16(_mm512_and_si512(bytes, nibble), table);
        __m512bh high = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(bytes, 4), table);
        __m512 s0 = _mm512_set1_ps(sr[2 * j]), s1 = _mm512_set1_ps(sr[2 * j + 1]);
        for (int b = 0; b < B; b++) {
          const at::BFloat16* xb = x + b * K + 64 * j;
          __m512bh x0 = (__m512bh)_mm512_loadu_si512(xb);
          __m512bh x1 = (__m512bh)_mm512_loadu_si512(xb + 32);
          const __m512 zero = _mm512_setzero_ps();
          acc[b][0] = _mm512_fmadd_ps(_mm512_dpbf16_ps(zero, low, x0), s0, acc[b][0]);
          acc[b][1] = _mm512_fmadd_ps(_mm512_dpbf16_ps(zero, high, x1), s1, acc[b][1]);
        }
      }
      for (int b = 0; b < B; b++) tile[b][r] = _mm512_add_ps(acc[b][0], acc[b][1]);
    }
    for (int b = 0; b < B; b++)
      _mm512_storeu_ps(y + b * N + t, _mm512_add_ps(reduce16(tile[b]), zero_term[b]));
  }
}

at::Tensor linear_int4(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scales,
                       const at::Tensor& zeros) {
  TORCH_CHECK(codes.dim() == 2, "linear_int4: the codes must be (out, in / 2)");
  const int64_t N = codes.size(0), K = codes.size(1) * 2, G = K / 32;
  TORCH_CHECK(K % 64 == 0 && N % kTile == 0, "linear_int4: the inputs must be a multiple of 64 "
              "and the outputs of 16, got ", K, " and ", N);
  at::Tensor xb = rows_as(x, at::kBFloat16, K, "linear_int4");
  check_weight(codes, at::kByte, {N, K / 2}, "linear_int4", "the codes");
  check_weight(scales, at::kBFloat16, {N, G}, "linear_int4", "the scales");
  check_weight(zeros, at::kBFloat16, {N / kTile, G, kTile}, "linear_int4", "the zeros");
  const int64_t M = x.size(0);
  const at::BFloat16* xp = xb.data_ptr<at::BFloat16>();
  // each group's sum of x, for the zero term
  at::Tensor xsum = at::empty({M, G}, x.options().dtype(at::kFloat));
  float* sp = xsum.data_ptr<float>();
  for (int64_t i = 0; i < M * G; i++) {
    const __m256i* group = reinterpret_cast<const __m256i*>(xp + 32 * i);
    sp[i] = _mm512_reduce_add_ps(_mm512_add_ps(bf16_to_f32(_mm256_loadu_si256(group)),
                                               bf16_to_f32(_mm256_loadu_si256(group + 1))));
  }
  const uint8_t* wp = codes.data_ptr<uint8_t>();
  const at::BFloat16* scp = scales.data_ptr<at::BFloat16>();
  const at::BFloat16* zp = zeros.data_ptr<at::BFloat16>();
  return product_rows(x, N, K / 2, [&]<int B>(int64_t m0, float* y, int64_t n0, int64_t n1) {
    int4_rows<B>(xp + m0 * K, K, wp, scp, zp, sp + m0 * G, y, N, n0, n1);
  });
}

// ---- RMSNorm, LayerNorm -----------------------------------------------------------------------

// y = x / sqrt(mean(x^2) + eps) * (weight + offset) over one row of D, as
// zoo.model.layers.RMSNorm computes it in fp32 (offset 1: Gemma's 1 + weight; no weight: 1)
void rms_row(const float* row, float* y, int64_t D, const float* w, float eps, float offset) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < D; k += 16) {
    __m512 v = _mm512_maskz_loadu_ps(tail_mask(D - k), row + k);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  const float r = 1.0f / std::sqrt(_mm512_reduce_add_ps(acc) / static_cast<float>(D) + eps);
  const __m512 rv = _mm512_set1_ps(r), ov = _mm512_set1_ps(offset);
  for (int64_t k = 0; k < D; k += 16) {
    __mmask16 mask = tail_mask(D - k);
    __m512 h = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, row + k), rv);
    if (w != nullptr) h = _mm512_mul_ps(h, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, w + k), ov));
    _mm512_mask_storeu_ps(y + k, mask, h);
  }
}

// y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias over one row of D (the biased
// variance, as torch's layer_norm; no weight or bias: 1 and 0)
void layer_row(const float* row, float* y, int64_t D, const float* w, const float* b,
               float eps) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < D; k += 16)
    acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(D - k), row + k));
  const float mean = _mm512_reduce_add_ps(acc) / static_cast<float>(D);
  const __m512 mv = _mm512_set1_ps(mean);
  acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < D; k += 16) {
    __mmask16 mask = tail_mask(D - k);
    __m512 c = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, row + k), mv);
    acc = _mm512_fmadd_ps(c, c, acc);
  }
  const float r = 1.0f / std::sqrt(_mm512_reduce_add_ps(acc) / static_cast<float>(D) + eps);
  const __m512 rv = _mm512_set1_ps(r);
  for (int64_t k = 0; k < D; k += 16) {
    __mmask16 mask = tail_mask(D - k);
    __m512 h = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, row + k), mv), rv);
    if (w != nullptr) h = _mm512_mul_ps(h, _mm512_maskz_loadu_ps(mask, w + k));
    if (b != nullptr) h = _mm512_add_ps(h, _mm512_maskz_loadu_ps(mask, b + k));
    _mm512_mask_storeu_ps(y + k, mask, h);
  }
}

const float* data_or_null(const std::optional<at::Tensor>& t, int64_t D, const char* op,
                          const char* name) {
  if (!t.has_value()) return nullptr;
  check_weight(*t, at::kFloat, {D}, op, name);
  return t->data_ptr<float>();
}

// each row of x (rows, D) fp32 normalised by `row(in, out)`
template <typename Row>
at::Tensor each_row(const at::Tensor& x, const char* op, Row row) {
  TORCH_CHECK(x.dim() >= 1 && x.scalar_type() == at::kFloat, op, ": x must be fp32, got ",
              x.scalar_type());
  const int64_t D = x.size(-1), M = D ? x.numel() / D : 0;
  at::Tensor xc = x.contiguous();
  at::Tensor y = at::empty_like(xc);
  const float* xp = xc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, M, 64, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++) row(xp + m * D, yp + m * D);
  });
  return y;
}

at::Tensor rms_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight, double eps,
                    double offset) {
  const int64_t D = x.dim() ? x.size(-1) : 0;
  const float* w = data_or_null(weight, D, "rms_norm", "the weight");
  return each_row(x, "rms_norm", [&](const float* in, float* out) {
    rms_row(in, out, D, w, static_cast<float>(eps), static_cast<float>(offset));
  });
}

at::Tensor layer_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                      const std::optional<at::Tensor>& bias, double eps) {
  const int64_t D = x.dim() ? x.size(-1) : 0;
  const float* w = data_or_null(weight, D, "layer_norm", "the weight");
  const float* b = data_or_null(bias, D, "layer_norm", "the bias");
  return each_row(x, "layer_norm", [&](const float* in, float* out) {
    layer_row(in, out, D, w, b, static_cast<float>(eps));
  });
}

// ---- one decoding step's attention ----------------------------------------------------------

// e^x for x <= 0 in 16 lanes: 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 in two
// parts), e^r = 1 + r + r^2 P(r) with Cephes' degree-5 minimax P (about 1 ulp on [-ln 2 / 2,
// ln 2 / 2]); 0 below -87.3, where e^x is not a normal fp32
__m512 exp_nonpositive(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  return _mm512_maskz_mov_ps(normal, _mm512_scalef_ps(p, n));
}

float dot(const float* a, const float* b, int64_t d) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < d; i += 16) {
    __mmask16 mask = tail_mask(d - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i),
                          acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// One head's d numbers rotated as zoo.model.layers.apply_rotary does: the first r dims paired
// (i with i + r/2, or 2i with 2i + 1 where interleaved), a * cos + partner * sin with the
// signed sin table, a product, a product and a sum each rounded (-ffp-contract=off), so the
// same numbers bit for bit; the dims past r as they are
void rotate(const float* a, float* out, int64_t d, const float* cos, const float* sin, int64_t r,
            bool interleaved) {
  for (int64_t i = 0; i < d; i++) {
    if (i >= r) {
      out[i] = a[i];
      continue;
    }
    const int64_t partner = interleaved ? (i ^ 1) : (i + r / 2) % r;
    const float straight = a[i] * cos[i], turned = a[partner] * sin[i];
    out[i] = straight + turned;
  }
}

// A decoding step's attention, for one new position per sequence: from the fused projection
// qkv (B, 1, (H + 2 Hk) d) (each head's d numbers, queries then keys then values), the
// queries and keys rotated with this position's cos and signed sin (B or 1, 1, 1, r; none
// without rotary), the key and value written into the caches (B, Hk, capacity, d) at `start`,
// then softmax(q k^T * scale) v over the positions 0 .. start, query head h reading key head
// h / (H / Hk) as SDPA's enable_gqa does. Returns (B, 1, H d). The scores, their maximum and
// the sum of their exponentials in fp32, as SDPA's CPU kernel keeps them. With q_norm and
// k_norm (Qwen3's and Gemma 3's QK norm), each query and key head is first RMS-normalised
// over its d numbers with that weight (norm_eps, norm_offset as rms_norm's).
at::Tensor decode_attention(const at::Tensor& qkv, const std::optional<at::Tensor>& cos,
                            const std::optional<at::Tensor>& sin, at::Tensor& k_cache,
                            at::Tensor& v_cache, int64_t start, int64_t heads, bool interleaved,
                            double scale, const std::optional<at::Tensor>& q_norm,
                            const std::optional<at::Tensor>& k_norm, double norm_eps,
                            double norm_offset) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.size(1) == 1 && qkv.scalar_type() == at::kFloat &&
                  qkv.is_contiguous(),
              "decode_attention: qkv must be contiguous (batch, 1, width) fp32, got ",
              qkv.sizes(), " ", qkv.scalar_type());
  TORCH_CHECK(k_cache.dim() == 4 && k_cache.sizes() == v_cache.sizes() &&
                  k_cache.scalar_type() == at::kFloat && v_cache.scalar_type() == at::kFloat &&
                  k_cache.is_contiguous() && v_cache.is_contiguous(),
              "decode_attention: the caches must be contiguous (batch, kv heads, capacity, d) "
              "fp32 alike, got ", k_cache.sizes(), " and ", v_cache.sizes());
  const int64_t B = qkv.size(0), Hk = k_cache.size(1), capacity = k_cache.size(2),
                D = k_cache.size(3), H = heads;
  TORCH_CHECK(k_cache.size(0) == B && Hk > 0 && H % Hk == 0 && qkv.size(2) == (H + 2 * Hk) * D &&
                  start >= 0 && start < capacity,
              "decode_attention: qkv ", qkv.sizes(), " does not match ", H, " heads and the "
              "caches ", k_cache.sizes(), " at position ", start);
  const bool rotary = cos.has_value();
  int64_t r = 0;
  if (rotary) {
    TORCH_CHECK(sin.has_value() && cos->dim() == 4 && cos->sizes() == sin->sizes() &&
                    (cos->size(0) == 1 || cos->size(0) == B) && cos->size(2) == 1 &&
                    cos->size(3) <= D && cos->scalar_type() == at::kFloat &&
                    sin->scalar_type() == at::kFloat && cos->is_contiguous() &&
                    sin->is_contiguous(),
                "decode_attention: cos and sin must be contiguous (batch or 1, 1, 1, rotary "
                "dims) fp32 alike, got ", cos->sizes());
    r = cos->size(3);
  }
  const int64_t T = start + 1, group = H / Hk, width = (H + 2 * Hk) * D;
  at::Tensor queries = at::empty({B, H, D}, qkv.options());
  at::Tensor y = at::empty({B, 1, H * D}, qkv.options());
  const float* in = qkv.data_ptr<float>();
  float* qp = queries.data_ptr<float>();
  float* kp = k_cache.data_ptr<float>();
  float* vp = v_cache.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  TORCH_CHECK(q_norm.has_value() == k_norm.has_value(),
              "decode_attention: a QK norm needs both q_norm and k_norm");
  const float* qn = data_or_null(q_norm, D, "decode_attention", "q_norm");
  const float* kn = data_or_null(k_norm, D, "decode_attention", "k_norm");
  std::vector<float> normed(D);
  for (int64_t b = 0; b < B; b++) {
    const float* row = in + b * width;
    const int64_t table = rotary && cos->size(0) == B ? b * r : 0;
    const float* c = rotary ? cos->data_ptr<float>() + table : nullptr;
    const float* s = rotary ? sin->data_ptr<float>() + table : nullptr;
    for (int64_t h = 0; h < H + Hk; h++) {
      float* out = h < H ? qp + (b * H + h) * D : kp + ((b * Hk + h - H) * capacity + start) * D;
      const float* head = row + h * D;
      if (qn != nullptr) {
        rms_row(head, normed.data(), D, h < H ? qn : kn, static_cast<float>(norm_eps),
                static_cast<float>(norm_offset));
        head = normed.data();
      }
      if (rotary)
        rotate(head, out, D, c, s, r, interleaved);
      else
        std::copy(head, head + D, out);
    }
    for (int64_t g = 0; g < Hk; g++)
      std::copy(row + (H + Hk + g) * D, row + (H + Hk + g + 1) * D,
                vp + ((b * Hk + g) * capacity + start) * D);
  }
  const float sc = static_cast<float>(scale);
  const int64_t grain = std::max<int64_t>(1, 16384 / (T * 2 * D));
  at::parallel_for(0, B * H, grain, [&](int64_t i0, int64_t i1) {
    std::vector<float> p(T + 16);
    for (int64_t i = i0; i < i1; i++) {
      const int64_t b = i / H, g = (i % H) / group;
      const float* q = qp + i * D;
      const float* keys = kp + (b * Hk + g) * capacity * D;
      const float* values = vp + (b * Hk + g) * capacity * D;
      float top = -INFINITY;
      for (int64_t t = 0; t < T; t++) {
        p[t] = dot(q, keys + t * D, D) * sc;
        top = std::max(top, p[t]);
      }
      __m512 total = _mm512_setzero_ps();
      for (int64_t t = 0; t < T; t += 16) {
        __mmask16 mask = tail_mask(T - t);
        __m512 e = _mm512_maskz_mov_ps(
            mask, exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, p.data() + t),
                                                _mm512_set1_ps(top))));
        _mm512_storeu_ps(p.data() + t, e);
        total = _mm512_add_ps(total, e);
      }
      const __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(total));
      float* out = yp + i * D;
      for (int64_t j = 0; j < D; j += 16) {
        __mmask16 mask = tail_mask(D - j);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t t = 0; t < T; t++)
          acc = _mm512_fmadd_ps(_mm512_set1_ps(p[t]),
                                _mm512_maskz_loadu_ps(mask, values + t * D + j), acc);
        _mm512_mask_storeu_ps(out + j, mask, _mm512_mul_ps(acc, inverse));
      }
    }
  });
  return y;
}

// ---- one decoding step of a whole block --------------------------------------------------------

// oneDNN's linear (torch.ops.mkldnn._linear_pointwise, no fused activation), through torch's
// dispatcher: its weight plain (fp32) or in oneDNN's blocked layout (quantize's onednn_bf16)
at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& w,
                         const std::optional<at::Tensor>& bias) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                            c10::string_view, c10::List<std::optional<c10::Scalar>>,
                            std::optional<c10::string_view>)>();
  return op.call(x, w, bias, "none", c10::List<std::optional<c10::Scalar>>(), "");
}

// A projection's tensors as decode_block passes them, four apiece: the weight, its scales and
// zeros where its kernel has them, the bias
struct Operands {
  const c10::List<std::optional<at::Tensor>>& t;
  int64_t at;
  const std::string& kernel;
  at::Tensor operator()(int64_t i) const {
    std::optional<at::Tensor> v = t.get(at + i);
    TORCH_CHECK(v.has_value(), "decode_block: ", kernel, " lacks its tensor ", i);
    return *v;
  }
  std::optional<at::Tensor> bias() const { return t.get(at + 3); }
};

// a kernel's fp32 (or bf16, widened as PackedLinear widens it) result plus the bias
at::Tensor biased(at::Tensor y, const Operands& w) {
  y = y.to(at::kFloat);
  std::optional<at::Tensor> bias = w.bias();
  return bias.has_value() ? y.add_(*bias) : y;
}

at::Tensor bf16(const at::Tensor& x) { return x.to(at::kBFloat16); }

// F.linear, the weight [out, in] or stored [in, out] (a transposed view)
at::Tensor plain_linear(const at::Tensor& x, const Operands& w) {
  return at::linear(x, w(0), w.bias());
}

// y = x W^T (+ bias), fp32 (rows, N), for fp32 rows x (rows, K), by the kernel the layer was
// measured to run, as the layer's forward runs it (zoo.model.layers.Linear for the fp32
// layers, whose torch kernels add the bias themselves; zoo.model.quantize.KERNELS for the
// packed ones, whose torch kernels take bf16 rows): one entry per kernel
using Projection = at::Tensor (*)(const at::Tensor& x, const Operands& w);
const std::map<std::string, Projection> kProjections = {
    {"linear", plain_linear},
    {"linear_t", plain_linear},
    {"onednn", [](const at::Tensor& x, const Operands& w) {
       return onednn_linear(x, w(0), w.bias()); }},
    {"zoo_fp32", [](const at::Tensor& x, const Operands& w) {
       return biased(linear_f32(x, w(0)), w); }},
    {"zoo_bf16", [](const at::Tensor& x, const Operands& w) {
       return biased(linear_bf16(x, w(0)), w); }},
    {"zoo_int8", [](const at::Tensor& x, const Operands& w) {
       return biased(linear_int8(x, w(0), w(1)), w); }},
    {"zoo_int4", [](const at::Tensor& x, const Operands& w) {
       return biased(linear_int4(x, w(0), w(1), w(2)), w); }},
    {"int4pack", [](const at::Tensor& x, const Operands& w) {  // scales (K / group, N, 2)
       const at::Tensor scales = w(1);
       return biased(at::_weight_int4pack_mm_for_cpu(bf16(x), w(0), x.size(1) / scales.size(0),
                                                     scales), w); }},
    {"int8pack", [](const at::Tensor& x, const Operands& w) {
       return biased(at::_weight_int8pack_mm(bf16(x), w(0), w(1)), w); }},
    {"dense_bf16", [](const at::Tensor& x, const Operands& w) {
       return biased(at::linear(bf16(x), w(0)), w); }},
    {"dense_bf16_t", [](const at::Tensor& x, const Operands& w) {
       return biased(at::linear(bf16(x), w(0)), w); }},
    {"onednn_bf16", [](const at::Tensor& x, const Operands& w) {
       return biased(onednn_linear(bf16(x), w(0), std::nullopt), w); }},
};

// projection `at / 4` of decode_block: its kernel's entry of kProjections
at::Tensor project(const at::Tensor& x, const std::string& kernel,
                   const c10::List<std::optional<at::Tensor>>& t, int64_t at) {
  const auto entry = kProjections.find(kernel);
  TORCH_CHECK(entry != kProjections.end(), "decode_block: no kernel ", kernel);
  return entry->second(x, Operands{t, at, kernel});
}

// sigmoid(g) for 16 lanes, from e^-|g| (never overflows): 1 / (1 + e) or e / (1 + e)
__m512 sigmoid(__m512 g) {
  const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(g)));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 inverse = _mm512_div_ps(one, _mm512_add_ps(one, e));
  const __mmask16 negative = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(inverse, negative, inverse, e);
}

// gelu with tanh's approximation, as torch's: x / 2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))),
// tanh(u) = sign(u) (1 - e) / (1 + e) with e = e^-2|u|
__m512 gelu_tanh(__m512 x) {
  const __m512 u = _mm512_mul_ps(
      _mm512_set1_ps(0.7978845608028654f),
      _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), _mm512_mul_ps(x, x)), x, x));
  const __m512 e = exp_nonpositive(_mm512_mul_ps(_mm512_set1_ps(-2.0f), _mm512_abs_ps(u)));
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 t = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
  t = _mm512_mask_sub_ps(t, _mm512_cmp_ps_mask(u, _mm512_setzero_ps(), _CMP_LT_OQ),
                         _mm512_setzero_ps(), t);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(one, t));
}

// erf for 16 lanes: a rational approximation on [-4, 4] (Eigen's for fp32, within 1e-7 of
// erf, as torch's vectorised one is), +-1 (rounded) beyond
__m512 erf16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-4.0f), _mm512_min_ps(_mm512_set1_ps(4.0f), x));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-2.72614225801306e-10f);
  for (float c : {2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f,
                  -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f})
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(c));
  __m512 q = _mm512_set1_ps(-1.45660718464996e-05f);
  for (float c : {-2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f,
                  -1.42647390514189e-02f})
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(c));
  return _mm512_div_ps(_mm512_mul_ps(x, p), q);
}

// gelu, exact (erf): x / 2 (1 + erf(x / sqrt(2)))
__m512 gelu_erf(__m512 x) {
  const __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                       _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// The MLP's activation, as zoo.model.layers.activate: the gated ones on h (rows, 2F) = [gate;
// up] -> act(gate) * up (rows, F) ("swiglu": silu, "geglu": gelu_tanh); the plain ones
// ("gelu", "gelu_tanh", "silu", "relu") on each number of h
at::Tensor activate(const at::Tensor& h, const std::string& activation) {
  const bool gated = activation == "swiglu" || activation == "geglu";
  const bool silu = activation == "swiglu" || activation == "silu";
  const bool tanh_gelu = activation == "geglu" || activation == "gelu_tanh";
  const bool gelu = activation == "gelu";
  TORCH_CHECK(silu || tanh_gelu || gelu || activation == "relu",
              "decode_block: no activation ", activation);
  const int64_t M = h.size(0), F = gated ? h.size(1) / 2 : h.size(1);
  at::Tensor y = at::empty({M, F}, h.options());
  const float* hp = h.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t m = 0; m < M; m++) {
    const float* a = hp + m * h.size(1);
    for (int64_t f = 0; f < F; f += 16) {
      const __mmask16 mask = tail_mask(F - f);
      const __m512 g = _mm512_maskz_loadu_ps(mask, a + f);
      __m512 v = silu ? _mm512_mul_ps(g, sigmoid(g))
                 : tanh_gelu ? gelu_tanh(g)
                 : gelu ? gelu_erf(g) : _mm512_max_ps(g, _mm512_setzero_ps());
      if (gated) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mask, a + F + f));
      _mm512_mask_storeu_ps(yp + m * F + f, mask, v);
    }
  }
  return y;
}

// A block's decoding step, one position per sequence, x (B, 1, d) fp32, in one call, as
// zoo.model.decoder.Block computes it with its one-call norms and attention step, with
// A(h) = out(attention(qkv(h))) and M(h) = fc_out(act(fc_in(h))), by `arrangement`:
//   pre:                 x = x + A(n1(x));      x = x + M(n2(x))
//   sandwich:            x = x + n3(A(n1(x)));  x = x + n4(M(n2(x)))
//   parallel:            x = x + A(n1(x)) + M(n1(x))   (one norm feeds both)
//   parallel_two_norms:  x = x + A(n1(x)) + M(n2(x))
// The norms are RMSNorms (`norm` "rms", eps and offset as rms_norm's) or LayerNorms ("layer"),
// their weights and biases in `norms` (n1, n2, n3, n4: a weight and a bias each, or none). The
// four projections' kernels are named in `kernels` (qkv, out, fc_in, fc_out), their tensors
// four apiece in `tensors` (see project); the attention's arguments are decode_attention's,
// the activation activate's.
at::Tensor decode_block(const at::Tensor& x, const std::string& norm,
                        const c10::List<std::optional<at::Tensor>>& norms, double eps,
                        double offset, const std::string& arrangement,
                        at::ArrayRef<std::string> kernels,
                        const c10::List<std::optional<at::Tensor>>& tensors,
                        const std::optional<at::Tensor>& cos, const std::optional<at::Tensor>& sin,
                        at::Tensor& k_cache, at::Tensor& v_cache, int64_t start, int64_t heads,
                        bool interleaved, double scale, const std::optional<at::Tensor>& q_norm,
                        const std::optional<at::Tensor>& k_norm, double norm_eps,
                        double norm_offset, const std::string& activation) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == 1 && x.scalar_type() == at::kFloat,
              "decode_block: x must be (batch, 1, d) fp32, got ", x.sizes(), " ", x.scalar_type());
  TORCH_CHECK(kernels.size() == 4 && tensors.size() == 16 && norms.size() == 8,
              "decode_block: four projections, four tensors each, and four norms, two each, got ",
              kernels.size(), ", ", tensors.size(), " and ", norms.size());
  TORCH_CHECK(norm == "rms" || norm == "layer", "decode_block: no norm ", norm);
  const bool sandwich = arrangement == "sandwich", parallel = arrangement == "parallel";
  TORCH_CHECK(sandwich || parallel || arrangement == "pre" ||
                  arrangement == "parallel_two_norms",
              "decode_block: no arrangement ", arrangement);
  auto normalise = [&](const at::Tensor& rows, int64_t i) {
    return norm == "rms" ? rms_norm(rows, norms.get(2 * i), eps, offset)
                         : layer_norm(rows, norms.get(2 * i), norms.get(2 * i + 1), eps);
  };
  auto mlp = [&](const at::Tensor& h) {
    return project(activate(project(h, kernels[2], tensors, 8), activation), kernels[3],
                   tensors, 12);
  };
  const int64_t B = x.size(0), d = x.size(2);
  at::Tensor rows = x.reshape({B, d}).contiguous();
  at::Tensor h = normalise(rows, 0);
  at::Tensor qkv = project(h, kernels[0], tensors, 0);
  at::Tensor y = decode_attention(qkv.view({B, 1, qkv.size(1)}), cos, sin, k_cache, v_cache,
                                  start, heads, interleaved, scale, q_norm, k_norm, norm_eps,
                                  norm_offset);
  y = project(y.view({B, y.size(2)}), kernels[1], tensors, 4);
  if (parallel || arrangement == "parallel_two_norms") {  // (x + A) + M, as Block adds them
    at::Tensor m = mlp(parallel ? h : normalise(rows, 1));
    return m.add_(y.add_(rows)).view({B, 1, d});
  }
  rows = (sandwich ? normalise(y, 2) : y).add_(rows);  // new tensors, x as it was
  y = mlp(normalise(rows, 1));
  return (sandwich ? normalise(y, 3) : y).add_(rows).view({B, 1, d});
}

}  // namespace

TORCH_LIBRARY(zoo, m) {
  m.def("linear_f32(Tensor x, Tensor weight) -> Tensor");
  m.def("linear_bf16(Tensor x, Tensor weight) -> Tensor");
  m.def("linear_int8(Tensor x, Tensor codes, Tensor scale) -> Tensor");
  m.def("linear_int4(Tensor x, Tensor codes, Tensor scales, Tensor zeros) -> Tensor");
  m.def("rms_norm(Tensor x, Tensor? weight, float eps, float offset) -> Tensor");
  m.def("decode_attention(Tensor qkv, Tensor? cos, Tensor? sin, Tensor(a!) k_cache, "
        "Tensor(b!) v_cache, int start, int heads, bool interleaved, float scale, "
        "Tensor? q_norm, Tensor? k_norm, float norm_eps, float norm_offset) -> Tensor");
  m.def("decode_block(Tensor x, str norm, Tensor?[] norms, float eps, float offset, "
        "str arrangement, str[] kernels, Tensor?[] tensors, Tensor? cos, Tensor? sin, "
        "Tensor(a!) k_cache, Tensor(b!) v_cache, int start, int heads, bool interleaved, "
        "float scale, Tensor? q_norm, Tensor? k_norm, float norm_eps, float norm_offset, "
        "str activation) -> Tensor");
}

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("linear_f32", &linear_f32);
  m.impl("linear_bf16", &linear_bf16);
  m.impl("linear_int8", &linear_int8);
  m.impl("linear_int4", &linear_int4);
  m.impl("rms_norm", &rms_norm);
  m.impl("decode_attention", &decode_attention);
  m.impl("decode_block", &decode_block);
}

// a block whose projection holds a weight in oneDNN's blocked layout (an MKLDNN tensor, as
// quantize's onednn_bf16 packs it) is dispatched by that tensor's key
TORCH_LIBRARY_IMPL(zoo, MkldnnCPU, m) { m.impl("decode_block", &decode_block); }
