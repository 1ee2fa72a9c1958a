// ratio_report_main.cc — main() of every modref benchmark executable: run the benchmarks linked
// into it, then print the ratio pairs they declared (see ratio_report.h).
#include "ratio_report.h"

int main(int argc, char** argv) {
  return modref_bench::run_benchmarks_and_print_ratios(argc, argv);
}
