// ratio_report.cc — the result-collecting reporter, the pair registry and the shared main() body
// behind every modref benchmark executable. See ratio_report.h.
#include "ratio_report.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>
#include <utility>

namespace modref_bench {
namespace {

// The registry lives in a function-local static so that declare_ratio() works from other
// translation units' static initialisers, whatever order they run in.
std::vector<ratio_pair>& mutable_ratio_registry() {
  static std::vector<ratio_pair> pairs;
  return pairs;
}

double to_nanoseconds(double value, benchmark::TimeUnit unit) {
  return value * 1e9 / benchmark::GetTimeUnitMultiplier(unit);
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  if (values.size() % 2 == 1) return values[middle];
  return (values[middle - 1] + values[middle]) / 2;
}

const char* basis_name(time_basis basis) {
  return basis == time_basis::real_time ? "real time" : "CPU time";
}

std::string format_nanoseconds(double nanoseconds) {
  std::ostringstream text;
  if (nanoseconds >= 1e6) {
    text << std::fixed << std::setprecision(2) << nanoseconds / 1e6 << " ms";
  } else if (nanoseconds >= 1e3) {
    text << std::fixed << std::setprecision(2) << nanoseconds / 1e3 << " us";
  } else {
    text << std::fixed << std::setprecision(2) << nanoseconds << " ns";
  }
  return text.str();
}

bool every_benchmark_selected() {
  const std::string filter = benchmark::GetBenchmarkFilter();
  return filter.empty() || filter == "." || filter == "all" || filter == ".*";
}

}  // namespace

bool declare_ratio(ratio_pair pair) {
  mutable_ratio_registry().push_back(std::move(pair));
  return true;
}

const std::vector<ratio_pair>& declared_ratios() { return mutable_ratio_registry(); }

// No colour: the output usually goes to a file (Wine runs, CI logs), where escape codes are noise.
result_collecting_reporter::result_collecting_reporter() : ConsoleReporter(OO_None) {}

void result_collecting_reporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    ++reported_runs_;
    if (run.error_occurred) {
      ++failed_runs_;
      continue;
    }
    measured_times& times = times_by_run_name_[run.run_name.str()];
    const double real_ns = to_nanoseconds(run.GetAdjustedRealTime(), run.time_unit);
    const double cpu_ns = to_nanoseconds(run.GetAdjustedCPUTime(), run.time_unit);
    if (run.run_type == Run::RT_Iteration) {
      times.real_ns.push_back(real_ns);
      times.cpu_ns.push_back(cpu_ns);
    } else if (run.aggregate_name == "median") {
      times.median_aggregate_real_ns.push_back(real_ns);
      times.median_aggregate_cpu_ns.push_back(cpu_ns);
    }
  }
}

bool result_collecting_reporter::nanoseconds_per_iteration(const std::string& run_name,
                                                           time_basis basis,
                                                           double* nanoseconds) const {
  const auto found = times_by_run_name_.find(run_name);
  if (found == times_by_run_name_.end()) return false;
  const measured_times& times = found->second;
  const bool real = basis == time_basis::real_time;
  const std::vector<double>& repetitions = real ? times.real_ns : times.cpu_ns;
  const std::vector<double>& medians =
      real ? times.median_aggregate_real_ns : times.median_aggregate_cpu_ns;
  // Individual repetitions are missing from the display when --benchmark_display_aggregates_only
  // is given; the library's own median then stands in for them.
  if (!repetitions.empty()) {
    *nanoseconds = median_of(repetitions);
  } else if (!medians.empty()) {
    *nanoseconds = medians.front();
  } else {
    return false;
  }
  return true;
}

std::size_t print_ratios(const result_collecting_reporter& reporter,
                         const std::vector<ratio_pair>& pairs, std::ostream& out) {
  std::size_t missing_runs = 0;
  if (pairs.empty()) return 0;
  out << "\nRatios (numerator / denominator, time per iteration; median over repetitions):\n";
  for (const ratio_pair& pair : pairs) {
    double numerator_ns = 0;
    double denominator_ns = 0;
    const bool have_numerator =
        reporter.nanoseconds_per_iteration(pair.numerator, pair.basis, &numerator_ns);
    const bool have_denominator =
        reporter.nanoseconds_per_iteration(pair.denominator, pair.basis, &denominator_ns);
    out << "ratio " << pair.label << " = ";
    if (!have_numerator || !have_denominator) {
      ++missing_runs;
      out << "not measured (no successful run named \""
          << (have_numerator ? pair.denominator : pair.numerator) << "\")\n";
      continue;
    }
    if (denominator_ns <= 0) {
      // Very short runs (the smoke tests' --benchmark_min_time=0.001) can measure no CPU time at
      // all where the clock is coarse, as under Wine.
      out << "not measured (" << basis_name(pair.basis) << " of \"" << pair.denominator
          << "\" is zero: below the clock's resolution, run longer)\n";
      continue;
    }
    const double ratio = numerator_ns / denominator_ns;
    out << std::fixed << std::setprecision(2) << ratio << "x (";
    if (pair.target_at_most > 0) {
      out << "target <= " << pair.target_at_most << "x, "
          << (ratio <= pair.target_at_most ? "met" : "MISSED");
    } else {
      out << "no target";
    }
    out << "; " << basis_name(pair.basis) << " " << format_nanoseconds(numerator_ns) << " / "
        << format_nanoseconds(denominator_ns) << ")\n";
  }
  out << std::flush;
  return missing_runs;
}

int run_benchmarks_and_print_ratios(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  result_collecting_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Nothing ran (--benchmark_list_tests, or a filter that matched nothing): no ratios to print.
  const std::size_t missing_runs =
      reporter.reported_runs() == 0 ? 0 : print_ratios(reporter, declared_ratios(), std::cout);
  benchmark::Shutdown();

  int exit_code = 0;
  if (reporter.failed_runs() > 0) {
    std::cerr << reporter.failed_runs() << " benchmark run(s) reported an error\n";
    exit_code = 1;
  }
  if (missing_runs > 0 && every_benchmark_selected()) {
    std::cerr << missing_runs
              << " declared ratio pair(s) not measured although every benchmark was selected: a "
                 "run name in declare_ratio() is misspelt, or that run failed\n";
    exit_code = 1;
  }
  return exit_code;
}

}  // namespace modref_bench
