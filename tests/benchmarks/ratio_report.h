// ratio_report.h — prints "how much slower than the raw baseline" lines after a benchmark run.
//
// A benchmark file declares pairs next to its benchmarks; ratio_report_main.cc runs the registered
// benchmarks with a reporter that remembers every result, then prints one line per pair:
//
//   ratio ref_ptr copy+destroy / raw atomic inc+dec pair (1 thread) = 1.00x (target <= 1.10x,
//   met; CPU time 12.23 ns / 12.27 ns)
//
// Nothing fails on speed: a missed target is printed, never turned into an exit code. The exit
// code is non-zero only when a benchmark reported an error (state.SkipWithError), or when every
// benchmark was selected and a declared pair still could not be measured (a misspelt run name).
//
// Declaring a pair (at namespace scope, next to the BENCHMARK() lines it refers to):
//
//   [[maybe_unused]] const bool ref_ptr_vs_raw_declared = modref_bench::declare_ratio({
//       .label = "ref_ptr copy+destroy / raw atomic inc+dec pair",
//       .numerator = "ref_ptr_copy_destroy/threads:1",  // run names exactly as printed
//       .denominator = "raw_atomic_inc_dec_pair/threads:1",
//       .target_at_most = 1.10,  // 0: informative, no target
//       .basis = modref_bench::time_basis::cpu_time,
//   });
//
// Which time: the benchmark library's own per-iteration figures (total time / total iterations).
// modref's benchmarks divide CPU time: on a shared machine (CI runners, a 2-core VM with builds
// running next to it) real time per iteration includes every preemption and varied by 10-40%
// between repetitions where CPU time varied by 2-5%. For work that blocks or sleeps (waiting for
// a thread or a pool callback) CPU time misses the wait: declare those pairs with real_time.
// With ->Threads(n) the library sums iterations over the threads and divides wall time by n, so
// real time per iteration is wall-clock time per operation of the whole group, and CPU time per
// iteration is what one operation costs the thread doing it. With --benchmark_repetitions the
// median of the repetitions is used.
#ifndef MODREF_TESTS_BENCHMARKS_RATIO_REPORT_H_
#define MODREF_TESTS_BENCHMARKS_RATIO_REPORT_H_

#include <benchmark/benchmark.h>

#include <cstddef>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace modref_bench {

// Which of the library's two per-iteration times a ratio divides.
enum class time_basis { real_time, cpu_time };

// One declared comparison: numerator time / denominator time.
struct ratio_pair {
  std::string label;          // printed as is, e.g. "ref_ptr copy+destroy / raw atomic pair"
  std::string numerator;      // run name as the console prints it, e.g. "name/threads:2"
  std::string denominator;    // run name of the baseline
  double target_at_most = 0;  // the ratio we aim to stay at or under; 0 means no target
  time_basis basis = time_basis::cpu_time;
};

// declare_ratio(pair)
// Adds a pair to the list printed after the run. Returns true so that it can initialise a
// namespace-scope variable (static registration, like BENCHMARK()). Safe during static
// initialisation.
bool declare_ratio(ratio_pair pair);

// declared_ratios()
// Every pair declared so far, in declaration order.
const std::vector<ratio_pair>& declared_ratios();

// result_collecting_reporter
// A console reporter (the library's default table, without colour) that also keeps, per run
// name, the per-iteration times of every successful run, and counts the runs that failed.
class result_collecting_reporter : public benchmark::ConsoleReporter {
 public:
  result_collecting_reporter();

  void ReportRuns(const std::vector<Run>& runs) override;

  // Per-iteration time of `run_name` in nanoseconds on `basis`: the median over its repetitions
  // (or the library's median aggregate when only aggregates were reported). False when no
  // successful run by that name happened (filtered out, failed, or misspelt).
  bool nanoseconds_per_iteration(const std::string& run_name, time_basis basis,
                                 double* nanoseconds) const;

  std::size_t failed_runs() const { return failed_runs_; }
  // Runs reported so far, failed ones included (zero after --benchmark_list_tests).
  std::size_t reported_runs() const { return reported_runs_; }

 private:
  struct measured_times {
    std::vector<double> real_ns;  // one entry per repetition
    std::vector<double> cpu_ns;
    std::vector<double> median_aggregate_real_ns;  // only with --benchmark_repetitions
    std::vector<double> median_aggregate_cpu_ns;
  };
  std::map<std::string, measured_times> times_by_run_name_;
  std::size_t failed_runs_ = 0;
  std::size_t reported_runs_ = 0;
};

// print_ratios(reporter, pairs, out)
// Writes one line per pair: the ratio when both sides ran, otherwise "not measured" and why: a
// side did not run (excluded by --benchmark_filter, failed, or misspelt in the declaration), or
// the baseline measured zero time (a run too short for a coarse clock). Returns the number of
// pairs with a side that did not run.
std::size_t print_ratios(const result_collecting_reporter& reporter,
                         const std::vector<ratio_pair>& pairs, std::ostream& out);

// run_benchmarks_and_print_ratios(argc, argv)
// The whole main(): Initialize, RunSpecifiedBenchmarks with a result_collecting_reporter,
// print_ratios, Shutdown. Returns the process exit code (see the top of this file).
int run_benchmarks_and_print_ratios(int argc, char** argv);

}  // namespace modref_bench

#endif  // MODREF_TESTS_BENCHMARKS_RATIO_REPORT_H_
