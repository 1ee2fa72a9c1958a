#!/usr/bin/env python3
"""tools/tidy-racelab-table.py — the race lab as the acceptance corpus of the modref-* clang-tidy
checks. Runs clang-tidy-16 with the plugin on

  1. tests/racelab/raw_scenarios_dll.cc: every scenario whose bug is visible in the source must be
     reported by its check; each diagnostic is attributed to a scenario by the functions and types
     that make up that scenario (a diagnostic outside every scenario is a failure);
  2. tests/racelab/modref_scenarios_dll.cc, every file of examples/ and every public header of the
     library: nothing may be reported, except examples/wrap_createthread/before.cc, which is
     deliberately broken (seed 002's freed parameter, in an EXE) and must be reported;

and prints both as tables. Exit status 0 when every row is as expected.

  tools/tidy-racelab-table.py                 # after tools/test-tidy-plugin.sh built the plugin
  tools/tidy-racelab-table.py --plugin P --clang-tidy clang-tidy-16 --flags-file F
"""
import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
import tempfile

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
RAW = "tests/racelab/raw_scenarios_dll.cc"
COM_RAW = "tests/racelab/com_server_raw_dll.cc"
# The COM rows share one function of racelab_com_raw.dll: each is told apart by the line that
# starts its worker. scenario, text of that line, expected checks, why (when not visible).
COM_SCENARIOS = [
    ("com_server_unloaded_by_com", "CreateThread(nullptr, 0, unpinned_worker",
     ["modref-thread-without-pin"], ""),
    ("com_object_from_worker", "CreateThread(nullptr, 0, pinned_worker", [],
     "correct hand-written pin, must not be reported; the bug (DllCanUnloadNow counts objects "
     "only, an object made later outlives the image) is a COM vote no check models"),
]

# scenario, the definitions that make it up, the checks that must report it, why (when nothing
# in the source shows the bug).
SCENARIOS = [
    ("unload_while_running", ["scenario_unload_while_running"], ["modref-thread-without-pin"], ""),
    ("pin_inside_worker", ["scenario_pin_inside_worker", "pin_then_work"],
     ["modref-pin-inside-worker", "modref-thread-without-pin"], ""),
    ("free_then_exit_thread", ["scenario_free_then_exit_thread", "free_then_exit"],
     ["modref-free-library-then-exit"], ""),
    ("pool_without_library", ["scenario_pool_without_library"], ["modref-pool-without-library"], ""),
    ("freed_parameter", ["scenario_freed_parameter"],
     ["modref-freed-parameter", "modref-thread-without-pin"], ""),
    ("creation_fails", ["scenario_creation_fails"], [],
     "not visible: a hand-written reference count not given back on a failure path; no check "
     "models user reference counts"),
    ("exe_global_at_exit", ["scenario_exe_global_at_exit", "read_exe_global"], [],
     "not visible: the destroyed data is an EXE global, reached through a pointer the host passed"),
    ("pool_in_global_dtor_at_exit", ["pool_user", "scenario_pool_in_global_dtor_at_exit"],
     ["modref-pool-in-global-destructor"], ""),
    ("join_in_dllmain", ["scenario_join_in_dllmain", "DllMain"], ["modref-wait-in-dllmain"], ""),
    ("global_thread_at_exit", ["worker_owner", "scenario_global_thread_at_exit"],
     ["modref-wait-in-dllmain"], ""),
    ("thread_local_in_worker", ["tls_probe", "use_thread_local", "scenario_thread_local_in_worker"],
     [], "correct hand-written pin (the lab's control): nothing to report; the thread_local "
     "finding is a toolchain limit, outside the nine checks"),
]

DIAG = re.compile(r"^(.*?):(\d+):(\d+): warning: (.*) \[([\w.,-]+)\]$")


def definition_extents(path, names):
    """(first, last) line of each named function or struct definition at the file's top level
    (the file's own indentation: two spaces inside the anonymous namespace or extern "C")."""
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    extents = {}
    for name in names:
        start = None
        for i, line in enumerate(lines):
            if not line.startswith("//") and re.match(
                    rf"^(struct\s+{name}\b|\S[^;]*\b{name}\s*\([^;]*$)", line):
                start = i
                break
        if start is None:
            raise SystemExit(f"{path}: definition of {name} not found; update SCENARIOS")
        depth, opened = 0, False
        for j in range(start, len(lines)):
            code = re.sub(r"//.*", "", lines[j])
            code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth == 0:
                extents[name] = (start + 1, j + 1)
                break
    return extents


def run(args, source, extra, header_filter=None):
    cmd = [args.clang_tidy, f"--load={args.plugin}", "--checks=-*,modref-*", "--quiet"]
    if header_filter:
        cmd.append(f"--header-filter={header_filter}")
    cmd += [source, "--"] + args.flags + extra
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    diags = []
    for line in proc.stdout.splitlines():
        m = DIAG.match(line)
        if m:
            diags.append((os.path.relpath(os.path.realpath(m.group(1)), REPO), int(m.group(2)),
                          m.group(5)))
    if re.search(r"error: ", proc.stdout) and "clang-diagnostic-error" in proc.stdout:
        diags.append((os.path.relpath(source, REPO), 0, "compile-error"))
    return diags


def silent_corpus():
    """(label, source, extra flags, header filter, expected checks) for part 2."""
    rows = [("tests/racelab/com_server_modref_dll.cc",
             os.path.join(REPO, "tests/racelab/com_server_modref_dll.cc"),
             ["-Dracelab_com_modref_EXPORTS", f"-I{os.path.join(REPO, 'tests/racelab')}"], None, []),
            ("tests/racelab/modref_scenarios_dll.cc",
             os.path.join(REPO, "tests/racelab/modref_scenarios_dll.cc"),
             ["-Dracelab_modref_EXPORTS", "-DMODREF_TEST_SEAMS"], None, [])]
    dlls = {"word_count_plugin.cc": "word_count_plugin", "pool_plugin.cc": "pool_plugin",
            "cache_service.cc": "cache_service", "word_counter_server.cc": "word_counter_server",
            "report_plugin.cc": "report_plugin"}
    for root, _, files in sorted(os.walk(os.path.join(REPO, "examples"))):
        for name in sorted(files):
            if not name.endswith(".cc"):
                continue
            if name.endswith("_linux.cc"):
                continue  # Linux sources (the linux legs build them); the checks model Win32 APIs
            path = os.path.join(root, name)
            extra = [f"-I{os.path.join(REPO, 'examples/common')}", f"-I{root}"]
            if name in dlls:  # what CMake defines when it compiles these SHARED libraries
                extra.append(f"-D{dlls[name]}_EXPORTS")
            expected = (["modref-freed-parameter"]
                        if path.endswith("wrap_createthread/before.cc") else [])
            rows.append((os.path.relpath(path, REPO), path, extra, None, expected))
    headers = []
    for component in ("refcount", "modref", "threads"):
        base = os.path.join(REPO, component, "include")
        for root, _, files in os.walk(base):
            # Public headers only: detail/ headers are platform halves (mutex_posix.h refuses
            # Windows), included by the public ones where they apply. posix_*.h are POSIX only.
            headers += [os.path.relpath(os.path.join(root, f), base) for f in files
                        if f.endswith(".h") and "detail" not in root
                        and not f.startswith("posix_")]
    tu = os.path.join(tempfile.gettempdir(), f"modref-tidy-headers-{os.getpid()}.cc")
    with open(tu, "w", encoding="utf-8") as f:
        f.write("// Every public header of modref, compiled as DLL code.\n#include <windows.h>\n")
        for h in sorted(headers):
            f.write(f"#include <{h}>\n")
        f.write("MODREF_DEFINE_DLLMAIN();\n")
    rows.append((f"library headers ({len(headers)}, as DLL code)", tu,
                 ["-Dmodref_headers_EXPORTS"],
                 re.escape(REPO) + r"/(refcount|modref|threads)/include/.*", []))
    return rows


def main():
    parser = argparse.ArgumentParser()
    build = os.path.join(REPO, "build/tidy-plugin")
    parser.add_argument("--clang-tidy", default="clang-tidy-16")
    parser.add_argument("--plugin", default=os.path.join(build, "modref-tidy.so"))
    parser.add_argument("--flags-file", default=os.path.join(build, "mingw-flags.txt"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    for p in (args.plugin, args.flags_file):
        if not os.path.exists(p):
            raise SystemExit(f"{p} not found: build the plugin first (tools/test-tidy-plugin.sh)")
    with open(args.flags_file, encoding="utf-8") as f:
        args.flags = shlex.split(f.read())

    corpus = silent_corpus()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        raw_future = pool.submit(run, args, os.path.join(REPO, RAW), ["-Dracelab_raw_EXPORTS"])
        com_future = pool.submit(run, args, os.path.join(REPO, COM_RAW),
                                 ["-Dracelab_com_raw_EXPORTS",
                                  f"-I{os.path.join(REPO, 'tests/racelab')}"])
        futures = [pool.submit(run, args, src, extra, hf) for _, src, extra, hf, _ in corpus]
        raw_diags = raw_future.result()
        com_diags = com_future.result()
        corpus_diags = [f.result() for f in futures]

    ok = True
    names = [n for _, defs, _, _ in SCENARIOS for n in defs]
    extents = definition_extents(os.path.join(REPO, RAW), names)
    attributed = set()
    print(f"modref-* checks on {RAW} (racelab_raw.dll): each scenario, the check(s) that must "
          "report it, what was reported")
    print(f"{'#':<3} {'scenario':<28} | {'expected':<55} | {'reported (line)':<62} | result")
    for number, (scenario, defs, expected, why) in enumerate(SCENARIOS, start=1):
        hits = []
        for d in raw_diags:
            if d[0] == RAW and any(extents[n][0] <= d[1] <= extents[n][1] for n in defs):
                hits.append(d)
                attributed.add(d)
        reported = sorted({d[2] for d in hits})
        missing = [c for c in expected if c not in reported]
        if missing:
            result = "MISSING " + ", ".join(missing)
            ok = False
        elif not expected and why.startswith("correct") and hits:
            result = "FALSE POSITIVE"
            ok = False
        else:
            result = "ok"
        shown = ", ".join(f"{c} ({','.join(str(d[1]) for d in hits if d[2] == c)})"
                          for c in reported) or "nothing"
        print(f"{number:<3} {scenario:<28} | {', '.join(expected) or '-':<55} | {shown:<62} | "
              f"{result}")
        if why:
            print(f"{'':<3} {'':<28} | {why}")
    for d in raw_diags:
        if d not in attributed:
            print(f"unattributed diagnostic: {d[0]}:{d[1]} [{d[2]}]")
            ok = False
    extra_note = [s for s, _, exp, why in SCENARIOS if not exp and not why.startswith("correct")]
    print(f"(rows {', '.join(extra_note)}: the bug is not visible in the DLL's source; what is "
          "reported there is that scenario's thread, which is also unpinned)")

    with open(os.path.join(REPO, COM_RAW), encoding="utf-8") as f:
        com_lines = f.read().splitlines()
    print()
    print(f"modref-* checks on {COM_RAW} (racelab_com_raw.dll, the COM rows)")
    for number, (scenario, marker, expected, why) in enumerate(COM_SCENARIOS, start=12):
        line = next((i for i, text in enumerate(com_lines, start=1) if marker in text), 0)
        hits = [d for d in com_diags if d[0] == COM_RAW and d[1] == line]
        reported = sorted({d[2] for d in hits})
        good = line != 0 and reported == sorted(expected)
        ok = ok and good
        shown = ", ".join(f"{c} ({line})" for c in reported) or "nothing"
        print(f"{number:<3} {scenario:<28} | {', '.join(expected) or '-':<55} | {shown:<62} | "
              f"{'ok' if good else 'WRONG'}")
        if why:
            print(f"{'':<3} {'':<28} | {why}")
    markers = {next((i for i, t in enumerate(com_lines, start=1) if m in t), 0)
               for _, m, _, _ in COM_SCENARIOS}
    for d in com_diags:
        if d[1] not in markers:
            print(f"unattributed diagnostic: {d[0]}:{d[1]} [{d[2]}]")
            ok = False

    print()
    print("modref-* checks where they must stay silent (modref's own patterns, examples, headers)")
    print(f"{'file':<48} | {'expected':<24} | {'reported':<40} | result")
    for (label, _, _, _, expected), diags in zip(corpus, corpus_diags):
        reported = sorted({d[2] for d in diags})
        good = reported == sorted(set(expected))
        ok = ok and good
        where = ", ".join(f"{d[0]}:{d[1]} [{d[2]}]" for d in diags) if not good else ""
        print(f"{label:<48} | {', '.join(expected) or 'nothing':<24} | "
              f"{', '.join(reported) or 'nothing':<40} | {'ok' if good else 'WRONG ' + where}"
              + ("  (deliberately broken example)" if expected else ""))
    print()
    print("tidy race lab: " + ("every row as expected" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
