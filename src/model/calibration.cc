// Calibration of match probabilities: isotonic regression fitted on
// labelled rows, applied by piecewise-linear interpolation.
#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "linkage/model.h"

namespace linkage::model {

double ApplyCalibration(const v1::Calibration& c, double p) {
  const int n = std::min(c.raw_size(), c.calibrated_size());
  if (n == 0) return p;
  if (p <= c.raw(0)) return c.calibrated(0);
  if (p >= c.raw(n - 1)) return c.calibrated(n - 1);
  int hi =
      static_cast<int>(std::upper_bound(c.raw().begin(), c.raw().begin() + n, p) - c.raw().begin());
  int lo = hi - 1;
  double span = c.raw(hi) - c.raw(lo);
  double t = span > 0 ? (p - c.raw(lo)) / span : 0;
  return c.calibrated(lo) + t * (c.calibrated(hi) - c.calibrated(lo));
}

v1::Calibration FitIsotonic(std::vector<std::pair<double, bool>> unweighted, size_t max_points,
                            const std::vector<double>* weights) {
  v1::Calibration c;
  if (unweighted.empty()) return c;
  // (raw, correct, weight), in raw order.
  std::vector<std::tuple<double, bool, double>> rows;
  rows.reserve(unweighted.size());
  double total = 0;
  for (size_t i = 0; i < unweighted.size(); ++i) {
    const double w = weights != nullptr ? std::max(0.0, (*weights)[i]) : 1.0;
    rows.emplace_back(unweighted[i].first, unweighted[i].second, w);
    total += w;
  }
  if (total <= 0) return c;
  std::sort(rows.begin(), rows.end());
  // Pool adjacent violators: blocks of (sum of raw, sum of correct, count)
  // whose means are non-decreasing.
  struct Block {
    double raw_sum, correct_sum;
    double count;
  };
  std::vector<Block> blocks;
  for (const auto& [raw, correct, w] : rows) {
    if (w <= 0) continue;
    blocks.push_back({raw * w, correct ? w : 0.0, w});
    while (blocks.size() > 1) {
      Block& b = blocks.back();
      Block& a = blocks[blocks.size() - 2];
      if (a.correct_sum / a.count <= b.correct_sum / b.count) break;
      a.raw_sum += b.raw_sum;
      a.correct_sum += b.correct_sum;
      a.count += b.count;
      blocks.pop_back();
    }
  }
  // At most max_points: consecutive blocks regrouped into groups of about
  // equal row counts (merging neighbours keeps the means monotone).
  if (blocks.size() > max_points) {
    const double per_group = total / static_cast<double>(max_points);
    std::vector<Block> grouped;
    Block current{0, 0, 0};
    for (const Block& b : blocks) {
      current.raw_sum += b.raw_sum;
      current.correct_sum += b.correct_sum;
      current.count += b.count;
      if (current.count >= per_group) {
        grouped.push_back(current);
        current = {0, 0, 0};
      }
    }
    if (current.count > 0) grouped.push_back(current);
    blocks = std::move(grouped);
  }
  // Neighbours with the same mean raw probability (ties of raw values with
  // both labels, or means equal in floating point) are pooled: the points
  // must strictly ascend in raw, which ValidateModel checks (a fit of
  // 9,701 rows once produced raw[23] == raw[22] and could not be installed).
  // Pooling lowers a point's mean raw a little, which may tie it with the
  // one before: pool until the tail ascends.
  std::vector<Block> points;
  for (const Block& b : blocks) {
    points.push_back(b);
    while (points.size() > 1) {
      Block& last = points.back();
      Block& prev = points[points.size() - 2];
      if (last.raw_sum / last.count > prev.raw_sum / prev.count) break;
      prev.raw_sum += last.raw_sum;
      prev.correct_sum += last.correct_sum;
      prev.count += last.count;
      points.pop_back();
    }
  }
  for (const Block& b : points) {
    c.add_raw(b.raw_sum / b.count);
    c.add_calibrated(b.correct_sum / b.count);
  }
  c.set_labelled_rows(static_cast<int64_t>(rows.size()));
  return c;
}

double CalibrationError(const std::vector<std::pair<double, bool>>& raw_and_correct,
                        const v1::Calibration* calibration, const std::vector<double>* weights) {
  double sum_p[10] = {}, sum_y[10] = {}, w[10] = {}, total = 0;
  for (size_t i = 0; i < raw_and_correct.size(); ++i) {
    const auto& [raw, y] = raw_and_correct[i];
    const double p = calibration != nullptr ? ApplyCalibration(*calibration, raw) : raw;
    const double weight = weights != nullptr ? (*weights)[i] : 1.0;
    const int b = std::clamp(static_cast<int>(p * 10), 0, 9);
    sum_p[b] += weight * p;
    sum_y[b] += weight * (y ? 1.0 : 0.0);
    w[b] += weight;
    total += weight;
  }
  if (total <= 0) return 0;
  double e = 0;
  for (int b = 0; b < 10; ++b) {
    if (w[b] > 0) e += std::abs(sum_p[b] - sum_y[b]) / total;
  }
  return e;
}

}  // namespace linkage::model
