#!/usr/bin/env python3
"""tools/tidy-benchmark.py — what the modref-* checks cost. Runs clang-tidy-16 over every
translation unit of the repository (the windows-mingw preset's compile_commands.json, with the
MinGW flags clang needs) twice per file: once with a baseline check that does next to nothing
(llvm-include-order: it only looks at #include lines; clang-tidy refuses to run with no check at
all), once with the same check plus modref-*. Measures CPU time (user + system of the clang-tidy
processes, so other load on the machine does not count) and prints the ratio. Target: <= 1.5x.

  tools/tidy-benchmark.py            # after tools/test-tidy-plugin.sh built the plugin
  tools/tidy-benchmark.py --repeat 3 # best of three per file and configuration
"""
import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
BASELINE = "-*,llvm-include-order"


def cpu_of(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, proc.stdout


def main():
    parser = argparse.ArgumentParser()
    build = os.path.join(REPO, "build/tidy-plugin")
    parser.add_argument("--clang-tidy", default="clang-tidy-16")
    parser.add_argument("--plugin", default=os.path.join(build, "modref-tidy.so"))
    parser.add_argument("--compdb-dir", default=os.path.join(REPO, "build/tidy-compdb"))
    parser.add_argument("--mingw-gcc", default="/usr/lib/gcc/x86_64-w64-mingw32/12-posix")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    compdb = os.path.join(args.compdb_dir, "compile_commands.json")
    if not os.path.exists(compdb):
        print(f"configuring the windows-mingw preset into {args.compdb_dir} for its compile commands")
        subprocess.run(["cmake", "--preset", "windows-mingw", "-B", args.compdb_dir,
                        "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
    with open(compdb, encoding="utf-8") as f:
        entries = json.load(f)
    files = sorted({os.path.realpath(e["file"]) for e in entries})
    files = [f for f in files if f.startswith(REPO + os.sep)
             and not f.startswith(os.path.join(REPO, ".deps"))
             and not f.startswith(os.path.join(REPO, "build"))]
    g = args.mingw_gcc
    extra = ["--target=x86_64-w64-mingw32", "-nostdinc++", f"-isystem{g}/include/c++",
             f"-isystem{g}/include/c++/x86_64-w64-mingw32", f"-isystem{g}/include/c++/backward",
             "-Wno-unknown-warning-option", "-Wno-error", "-fsized-deallocation"]
    common = [args.clang_tidy, f"--load={args.plugin}", "-p", args.compdb_dir, "--quiet"]
    common += [f"--extra-arg-before={a}" for a in extra[:1]] + [f"--extra-arg={a}" for a in extra[1:]]

    totals = {"baseline": 0.0, "modref": 0.0}
    counts = {}
    errors = []
    start = time.time()
    for path in files:
        rel = os.path.relpath(path, REPO)
        best = {}
        for config, checks in (("baseline", BASELINE), ("modref", BASELINE + ",modref-*")):
            runs = []
            for _ in range(args.repeat):
                cpu, out = cpu_of(common + [f"--checks={checks}", path])
                runs.append(cpu)
                if config == "modref":
                    for line in out.splitlines():
                        if line.endswith("]") and ": warning: " in line and "[modref-" in line:
                            check = line[line.rindex("[") + 1:-1]
                            counts[check] = counts.get(check, 0) + 1
                if "clang-diagnostic-error" in out and rel not in errors:
                    errors.append(rel)
            best[config] = min(runs)
            totals[config] += best[config]
        print(f"{rel:<60} baseline {best['baseline']:6.2f} s   modref {best['modref']:6.2f} s   "
              f"{best['modref'] / best['baseline']:.2f}x", flush=True)
    ratio = totals["modref"] / totals["baseline"]
    print()
    print(f"translation units: {len(files)} (every repository source in {os.path.relpath(compdb, REPO)})")
    print(f"CPU time, baseline ({BASELINE}): {totals['baseline']:.1f} s")
    print(f"CPU time, with modref-*:            {totals['modref']:.1f} s")
    print(f"ratio: {ratio:.2f}x (target <= 1.50x) {'met' if ratio <= 1.5 else 'NOT MET'}")
    print(f"wall time of this script: {time.time() - start:.0f} s")
    print("modref-* warnings over the repository: " +
          (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    if errors:
        print("files clang could not parse: " + ", ".join(errors))
    return 0 if ratio <= 1.5 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
