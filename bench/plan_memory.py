#!/usr/bin/env python3
"""Memory and time of loading very large plans: `tidemark lint` (load, validate, lint; no
database) under /usr/bin/time, on plans written to a temporary folder.

Cases: the largest plan tidemark takes (20,000 chained steps in one file), 100,000 steps in
one file (refused before it is read: past the 4 MiB file limit), and 100,000 steps spread
over 25 ConfigMap files (refused once the steps from ConfigMaps pass 20,000).
Usage: bench/plan_memory.py [--tidemark build/bin/tidemark]
"""
import argparse
import os
import re
import subprocess
import tempfile

HEAD = ("apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: big}\n"
        "spec:\n  database: {dsn: \"postgresql://x/y\"}\n")


def step(i, indent):
    dep = f", dependencies: [a.{i - 1:06d}]" if i else ""
    return f"{indent}- {{app: a, name: \"{i:06d}\", forward: \"CREATE TABLE t{i} (id int)\"{dep}}}\n"


def write_inline(path, count):
    with open(path, "w") as out:
        out.write(HEAD + "  migrations:\n")
        for i in range(count):
            out.write(step(i, "    "))


def write_config_maps(folder, count, maps):
    os.makedirs(folder)
    refs = ", ".join(f"{{configMapRef: {{name: m{j}}}}}" for j in range(maps))
    with open(os.path.join(folder, "plan.yaml"), "w") as out:
        out.write(HEAD + f"  migrationsFrom: [{refs}]\n")
    per_map = count // maps
    for j in range(maps):
        with open(os.path.join(folder, f"m{j:02d}.yaml"), "w") as out:
            out.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m{j}}}\n"
                      "data:\n  steps.yaml: |\n")
            for i in range(j * per_map, (j + 1) * per_map):
                out.write(step(i, "    "))


def measure(tidemark, target):
    run = subprocess.run(["/usr/bin/time", "-v", tidemark, "lint", "-f", target],
                         capture_output=True, text=True)
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", run.stderr)
    error = next((line for line in run.stderr.splitlines() if line.startswith("error:")), "")
    return run.returncode, rss_kib / 1024, elapsed.group(1), error


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tidemark", default="build/bin/tidemark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        cases = []
        largest = os.path.join(work, "largest.yaml")
        write_inline(largest, 20000)
        cases.append(("20,000 steps, one file", largest))
        inline = os.path.join(work, "inline.yaml")
        write_inline(inline, 100000)
        cases.append(("100,000 steps, one file", inline))
        folder = os.path.join(work, "config-maps")
        write_config_maps(folder, 100000, 25)
        cases.append(("100,000 steps, 25 ConfigMaps", folder))
        for name, target in cases:
            code, rss_mib, elapsed, error = measure(args.tidemark, target)
            print(f"{name:32} exit {code}  max RSS {rss_mib:6.1f} MiB  {elapsed:>8}  {error[:90]}")


if __name__ == "__main__":
    main()
