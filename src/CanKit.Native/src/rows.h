// Column sums over the rows of a matrix, fused into a pass that also writes something per row (bias gradients of
// linear layers, the GELU backward, layer norm's weight and bias gradients).
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace ck {
// Rows are split into blocks of kSumBlock over the intra-op threads. row_fn(r0, r1, block) processes rows [r0, r1)
// and writes their sums of `width` columns into block; each thread adds its block sums into its own float64
// partials, which are added in thread order at the end (deterministic for a given number of threads; float32 sums
// only ever span one block).
constexpr int64_t kSumBlock = 64;

template <typename RowFn>
void column_sums(int64_t rows, int64_t width, float* out, const RowFn& row_fn) {
  const int threads = at::get_num_threads();
  std::vector<double> partial(static_cast<size_t>(threads) * width, 0.0);
  at::parallel_for(0, (rows + kSumBlock - 1) / kSumBlock, 1, [&](int64_t b0, int64_t b1) {
    double* acc = partial.data() + static_cast<size_t>(at::get_thread_num()) * width;
    std::vector<float> block(static_cast<size_t>(width));
    for (int64_t blk = b0; blk < b1; blk++) {
      row_fn(blk * kSumBlock, std::min(rows, (blk + 1) * kSumBlock), block.data());
      for (int64_t j = 0; j < width; j++) acc[j] += block[j];
    }
  });
  for (int64_t j = 0; j < width; j++) {
    double s = 0;
    for (int t = 0; t < threads; t++) s += partial[static_cast<size_t>(t) * width + j];
    out[j] = static_cast<float>(s);
  }
}
}  // namespace ck
