// Shared by the race lab's two table runners, racelab.cc (Windows, under Wine) and
// linux/racelab_linux.cc (Linux, native): printing what a child process said under its row.
// Portable C++ only; each runner keeps its own process handling.
#ifndef MODREF_TESTS_RACELAB_LAB_TABLE_H_
#define MODREF_TESTS_RACELAB_LAB_TABLE_H_

#include <cstdio>
#include <string>
#include <vector>

namespace lab_table {

// Prints the last `count` non-empty lines a child wrote, indented under its row: the evidence
// for a row that did not go as expected, or a stress run's summary.
inline void print_tail(const char* label, const std::string& output, std::size_t count) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < output.size()) {
    std::size_t end = output.find('\n', begin);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(begin, end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    begin = end + 1;
  }
  if (lines.empty()) {
    std::printf("      %s printed nothing\n", label);
    return;
  }
  const std::size_t first = lines.size() > count ? lines.size() - count : 0;
  for (std::size_t i = first; i < lines.size(); ++i) {
    std::printf("      %s| %s\n", label, lines[i].c_str());
  }
}

}  // namespace lab_table

#endif  // MODREF_TESTS_RACELAB_LAB_TABLE_H_
