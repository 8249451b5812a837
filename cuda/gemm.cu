// GEMM on CUDA through cuBLASLt: C = act(alpha * op(A) @ op(B) + beta * C + bias), row-major.
//
// Row-major to cuBLASLt's column-major: a row-major (r x c) matrix is the column-major
// (c x r) matrix with the same memory and leading dimension c. So row-major C = op(A) op(B)
// is column-major C^T = op(B)^T op(A)^T: cuBLASLt's first operand is B, its second A, each
// transposed exactly when the row-major call transposes it, and C^T is (N x M), ld = N. The
// bias (one value per column of C) is one per row of C^T: what cuBLASLt's BIAS epilogue adds.
//
// Precision: CUBLAS_COMPUTE_32F, full fp32 (never TF32), so results agree with the CPU to fp32
// rounding. Epilogues: cuBLASLt's BIAS, RELU and RELU_BIAS; every other activation (its GELU
// is the tanh approximation, not the exact erf GELU of kernels/activation_formulas.h), a bias
// cuBLASLt cannot read (not 16-byte aligned) and softmax run after it as our own kernels.
//
// Determinism: the algorithm is chosen once per shape, transposes, epilogue and pointer
// alignments (cached below) and cuBLASLt runs a fixed algorithm with a fixed workspace the same
// way every time, so the same inputs give bitwise the same C.
#include "gemm.cuh"

#include <cstdint>
#include <string>
#include <unordered_map>

#include "activation.cuh"
#include "context.h"
#include "core/errors.h"
#include "kernels/gemm.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

// The largest power of two (up to 256) dividing the address: cuBLASLt assumes 256-byte
// aligned operands unless told, and views into the flat parameter buffer are not.
uint32_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 4 && a % al) al >>= 1;
  return al;
}

struct PlanKey {
  int device;
  int64_t m, n, k, lda, ldb;
  bool ta, tb, beta_zero;
  cublasLtEpilogue_t epilogue;
  uint32_t align_a, align_b, align_c;
  bool operator==(const PlanKey& o) const {
    return device == o.device && m == o.m && n == o.n && k == o.k && lda == o.lda && ldb == o.ldb && ta == o.ta &&
           tb == o.tb && beta_zero == o.beta_zero && epilogue == o.epilogue && align_a == o.align_a &&
           align_b == o.align_b && align_c == o.align_c;
  }
};
struct PlanHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = 1469598103934665603ULL;
    for (uint64_t v : {uint64_t(k.device), uint64_t(k.m), uint64_t(k.n), uint64_t(k.k), uint64_t(k.lda),
                       uint64_t(k.ldb), uint64_t(k.ta) | uint64_t(k.tb) << 1 | uint64_t(k.beta_zero) << 2,
                       uint64_t(k.epilogue), uint64_t(k.align_a) << 32 | k.align_b, uint64_t(k.align_c)})
      h = (h ^ v) * 1099511628211ULL;
    return size_t(h);
  }
};
// Descriptors and the chosen algorithm for one key; `found` is false when cuBLASLt offers no
// algorithm with this epilogue (the caller then runs the epilogue itself).
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout_a = nullptr, layout_b = nullptr, layout_c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;
};

// One cache per thread: a plan's descriptor carries the bias pointer, set before each call,
// so threads must not share it. Plans live as long as the process (a handful of shapes per
// model); they are never destroyed, which also keeps exit free of cuBLASLt calls after the
// driver has shut down.
Plan& plan_for(const PlanKey& key) {
  static thread_local std::unordered_map<PlanKey, Plan, PlanHash> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Plan p;
  PYDL_CUDA_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // First operand: row-major B; second: row-major A (see the file header).
  const cublasOperation_t op1 = key.tb ? CUBLAS_OP_T : CUBLAS_OP_N, op2 = key.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  PYDL_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op1, sizeof(op1)));
  PYDL_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op2, sizeof(op2)));
  PYDL_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &key.epilogue,
                                                 sizeof(key.epilogue)));
  // Stored shapes, column-major: B is (N x K) untransposed, (K x N) transposed; A likewise.
  PYDL_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.layout_a, CUDA_R_32F, key.tb ? key.k : key.n,
                                             key.tb ? key.n : key.k, key.ldb));
  PYDL_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.layout_b, CUDA_R_32F, key.ta ? key.m : key.k,
                                             key.ta ? key.k : key.m, key.lda));
  PYDL_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.layout_c, CUDA_R_32F, key.n, key.m, key.n));
  cublasLtMatmulPreference_t pref;
  PYDL_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = cublaslt_workspace_bytes();
  PYDL_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  PYDL_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key.align_b,
                                                       sizeof(uint32_t)));
  PYDL_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key.align_a,
                                                       sizeof(uint32_t)));
  PYDL_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key.align_c,
                                                       sizeof(uint32_t)));
  PYDL_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key.align_c,
                                                       sizeof(uint32_t)));
  cublasLtMatmulHeuristicResult_t result{};
  int count = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(cublaslt(), p.desc, p.layout_a, p.layout_b, p.layout_c,
                                                          p.layout_c, pref, 1, &result, &count);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_NOT_SUPPORTED) check(s, "cublasLtMatmulAlgoGetHeuristic");
  p.found = s == CUBLAS_STATUS_SUCCESS && count > 0;
  p.algo = result.algo;
  return cache.emplace(key, p).first->second;
}

// c = act(c + bias) after a product without epilogue, or c = act(beta * c + bias) when there
// is no product (K == 0 or alpha == 0); beta == 0 never reads c (it may hold NaN).
__global__ void bias_kernel(float* c, const float* bias, int64_t rows, int64_t cols, float beta, bool scale) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = scale ? (beta == 0.f ? 0.f : beta * c[i]) : c[i];
    if (bias) v += bias[i % cols];
    c[i] = v;
  }
}

void bias_pass(Matrix<float> c, const float* bias, float beta, bool scale) {
  bias_kernel<<<blocks_for(c.size()), 256, 0, stream()>>>(c.data, bias, c.rows, c.cols, beta, scale);
  PYDL_CUDA_LAUNCHED("gemm bias");
}

std::string shape_str(int64_t r, int64_t c) { return "(" + std::to_string(r) + ", " + std::to_string(c) + ")"; }

}  // namespace

void gemm_cuda(Matrix<float> c, Matrix<const float> a, bool trans_a, Matrix<const float> b, bool trans_b,
               float alpha, float beta, const float* bias, Activation act) {
  const int64_t m = trans_a ? a.cols : a.rows, k = trans_a ? a.rows : a.cols;
  const int64_t kb = trans_b ? b.cols : b.rows, n = trans_b ? b.rows : b.cols;
  if (k != kb || c.rows != m || c.cols != n)
    throw ValueError("gemm: op(A) " + shape_str(m, k) + " @ op(B) " + shape_str(kb, n) + " does not fit C " +
                     shape_str(c.rows, c.cols));
  if (m == 0 || n == 0) return;
  bool bias_done = false, relu_done = false;
  if (k == 0 || alpha == 0.f) {
    bias_pass(c, bias, beta, true);
    bias_done = true;
  } else {
    const bool fuse_bias = bias && reinterpret_cast<uintptr_t>(bias) % 16 == 0;
    const bool fuse_relu = act == Activation::ReLU;
    PlanKey key{};
    PYDL_CUDA_CHECK(cudaGetDevice(&key.device));
    key.m = m, key.n = n, key.k = k, key.lda = a.cols, key.ldb = b.cols;
    key.ta = trans_a, key.tb = trans_b, key.beta_zero = beta == 0.f;
    key.epilogue = fuse_bias ? (fuse_relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                             : (fuse_relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    key.align_a = alignment(a.data), key.align_b = alignment(b.data), key.align_c = alignment(c.data);
    Plan* p = &plan_for(key);
    if (!p->found && key.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {  // the epilogue then runs as our kernels
      key.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
      p = &plan_for(key);
    }
    if (!p->found) throw std::runtime_error("gemm: cuBLASLt has no algorithm for C " + shape_str(m, n) + ", K " +
                                            std::to_string(k));
    if (key.epilogue == CUBLASLT_EPILOGUE_BIAS || key.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) {
      PYDL_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
      bias_done = true;
    }
    relu_done = key.epilogue == CUBLASLT_EPILOGUE_RELU || key.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS;
    PYDL_CUDA_CHECK(cublasLtMatmul(cublaslt(), p->desc, &alpha, b.data, p->layout_a, a.data, p->layout_b, &beta, c.data,
                                   p->layout_c, c.data, p->layout_c, &p->algo, cublaslt_workspace(),
                                   cublaslt_workspace_bytes(), stream()));
  }
  if (!bias_done && bias) bias_pass(c, bias, 1.f, false);
  if (act != Activation::Linear && !relu_done) activation_forward_cuda(c, c, act);
}

PYDL_CUDA_KERNEL(gemm, gemm_cuda);

}  // namespace pydl::cuda
