#!/usr/bin/env python3
"""check_test.py — runs clang-tidy with the modref plugin on one test file and compares its
diagnostics with the file's expectations, exactly: every expected diagnostic at its line and
column, with its check name and the start of its message, and nothing else.

Expectations, written in the test file (in the style of LLVM's check_clang_tidy.py):
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: <start of the message> [modref-<check>]
  // CHECK-NOTES: :[[@LINE+2]]:5: note: <start of the note>   (when present, notes are exact too)
  // CHECK-FIXES: <a line that must appear in the file after clang-tidy --fix>
  // RUN-FLAGS: <extra compiler flags>        // RUN-TIDY: <extra clang-tidy arguments>
A file without CHECK-MESSAGES must produce no diagnostic at all (a negative test). A compiler
error is always a failure: the test file has to parse as real Windows code.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

DIAG = re.compile(r"^(.*?):(\d+):(\d+): (warning|error|note): (.*)$")
EXPECT = re.compile(r"//\s*CHECK-(MESSAGES|NOTES):\s*:(\[\[@LINE([+-]\d+)?\]\]|\d+):(\d+):\s*"
                    r"(warning|note|error):\s*(.*)$")


def parse_expectations(path):
    messages, notes, fixes, flags, tidy_args = [], [], [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            m = EXPECT.search(line)
            if m:
                kind, where, offset, col, severity, text = m.groups()
                target = number + int(offset or 0) if where.startswith("[[") else int(where)
                entry = (target, int(col), severity, text.strip())
                (messages if kind == "MESSAGES" else notes).append(entry)
                continue
            m = re.search(r"//\s*CHECK-FIXES:\s?(.*)$", line)
            if m:
                fixes.append(m.group(1).strip())
            m = re.search(r"//\s*RUN-FLAGS:\s*(.*)$", line)
            if m:
                flags += shlex.split(m.group(1))
            m = re.search(r"//\s*RUN-TIDY:\s*(.*)$", line)
            if m:
                tidy_args += shlex.split(m.group(1))
    return messages, notes, fixes, flags, tidy_args


def run_tidy(args, path, flags, tidy_args, fix=False):
    cmd = [args.clang_tidy, f"--load={args.plugin}", "--checks=-*,modref-*"] + tidy_args
    if fix:
        cmd.append("--fix")
    compiler_flags = args.base_flags + flags
    if "--driver-mode=cl" not in compiler_flags:
        cmd += [path, "--"] + compiler_flags
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout
    # An MSVC command line goes through a compile_commands.json, as a real MSVC project's would:
    # in cl driver mode an absolute Linux path on the command line reads as an option (/work...
    # is /w), while the database names the file relative to its directory, as on Windows.
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.dirname(os.path.abspath(path))
        command = ["cl.exe"] + [f for f in compiler_flags if f != "--driver-mode=cl"]
        command.append(os.path.basename(path))
        with open(os.path.join(tmp, "compile_commands.json"), "w", encoding="utf-8") as f:
            json.dump([{"directory": folder, "file": os.path.abspath(path),
                        "arguments": command}], f)
        cmd += ["-p", tmp, os.path.abspath(path)]
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout


def diagnostics(output, path):
    real = os.path.realpath(path)
    base = os.path.dirname(real)  # relative names in the output are relative to the file's folder
    found = []
    for line in output.splitlines():
        m = DIAG.match(line)
        if not m or os.path.realpath(os.path.join(base, m.group(1))) != real:
            if m and m.group(4) == "error":
                found.append((0, 0, "error", m.group(5)))
            continue
        found.append((int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)))
    return found


def matches(expected, actual):
    line, col, severity, text = expected
    if (line, col, severity) != actual[:3]:
        return False
    if severity == "warning":
        m = re.match(r"^(.*?)\s*(\[[\w.,-]+\])$", text)
        if m:  # the check name must be the same, the message must start with the text
            prefix, check = m.groups()
            return actual[3].endswith(check) and actual[3].startswith(prefix)
    return actual[3].startswith(text)


def compare(kind, expected, actual, problems):
    unmatched = list(actual)
    for e in expected:
        hit = next((a for a in unmatched if matches(e, a)), None)
        if hit is None:
            problems.append(f"missing {kind}: line {e[0]}:{e[1]}: {e[2]}: {e[3]}")
        else:
            unmatched.remove(hit)
    for a in unmatched:
        problems.append(f"unexpected {kind}: line {a[0]}:{a[1]}: {a[2]}: {a[3]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clang-tidy", required=True)
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--flags-file", required=True, help="compiler flags for a MinGW x64 TU")
    parser.add_argument("file")
    args = parser.parse_args()
    args.plugin = os.path.abspath(args.plugin)
    with open(args.flags_file, encoding="utf-8") as f:
        args.base_flags = shlex.split(f.read())

    messages, notes, fixes, flags, tidy_args = parse_expectations(args.file)
    output = run_tidy(args, args.file, flags, tidy_args)
    found = diagnostics(output, args.file)
    problems = []
    errors = [d for d in found if d[2] == "error"]
    for e in errors:
        problems.append(f"compile error: line {e[0]}: {e[3]}")
    compare("warning", messages, [d for d in found if d[2] == "warning"], problems)
    if notes:
        compare("note", notes, [d for d in found if d[2] == "note"], problems)

    if fixes:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, os.path.basename(args.file))
            shutil.copy(args.file, copy)
            run_tidy(args, copy, flags + [f"-I{os.path.dirname(os.path.abspath(args.file))}"],
                     tidy_args, fix=True)
            with open(copy, encoding="utf-8") as f:
                fixed = [l.strip() for l in f]
            for want in fixes:
                if want not in fixed:
                    problems.append(f"missing fix: {want}")

    name = os.path.basename(args.file)
    if problems:
        print(f"FAIL {name}")
        for p in problems:
            print("  " + p)
        print("--- clang-tidy output ---")
        print(output)
        return 1
    kinds = "positive" if messages else "negative"
    print(f"PASS {name} ({kinds}: {len(messages)} warning(s), {len(notes)} note(s) checked"
          f"{', ' + str(len(fixes)) + ' fix(es)' if fixes else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
