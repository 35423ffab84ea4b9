#!/usr/bin/python3
"""The Dockerfile's runtime stage installs exactly the Debian packages that provide the shared
libraries the tidemark programs link (checked against the programs built on this Debian
machine; image_test.py also runs `ldd` inside the built image), and the image is shaped as
docs say: multi-stage, non-root, a fixed entry point.

Usage: dockerfile_test.py [--binary PATH ...] [--exact]
  --binary  a program to check, repeatable (default: $TIDEMARK_BINARY_DIR/bin/tidemark and
            tidemark-operator)
  --exact   also fail when the list names a library package no program links
            (only meaningful when every program the image ships is given)
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import unittest

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PROGRAMS = ("tidemark", "tidemark-operator")  # what the image ships, in /usr/local/bin
BINARIES = [os.path.join(os.environ.get("TIDEMARK_BINARY_DIR", "build"), "bin", program)
            for program in PROGRAMS]
EXACT = False


def read_dockerfile():
    with open(os.path.join(SOURCE_DIR, "Dockerfile"), encoding="utf-8") as f:
        # Join continuation lines, drop comments.
        text = re.sub(r"\\\n", " ", f.read())
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def stages(lines):
    """[(FROM line, [instructions])] in order."""
    result = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append((line, []))
        elif result:
            result[-1][1].append(line)
    return result


def stage_arg(instructions, name):
    for line in instructions:
        match = re.match(r"ARG\s+%s=(.*)$" % name, line)
        if match:
            return shlex.split(match.group(1))[0].split()
    raise AssertionError("the runtime stage has no ARG " + name)


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout


def owning_package(path):
    """The installed Debian package that ships `path` (tries the /lib <-> /usr/lib aliases
    of a merged-/usr system)."""
    candidates = []
    for p in (path, os.path.realpath(path)):
        candidates += [p]
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib"):
            candidates.append("/usr" + p)
    for candidate in candidates:
        code, out = run(["dpkg-query", "-S", candidate])
        if code == 0:
            return out.split(":", 1)[0].strip()
    raise AssertionError("no Debian package ships " + path)


def linked_libraries(binary):
    """{soname: resolved path} of every library the loader maps (transitively)."""
    code, out = run(["ldd", binary])
    if code != 0:
        raise AssertionError("ldd %s failed:\n%s" % (binary, out))
    libraries = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) => (\S+) \(", line)
        loader = re.match(r"\s*(/\S+) \(", line)  # the dynamic loader: a path, no "=>"
        if match:
            libraries[match.group(1)] = match.group(2)
        elif loader:
            libraries[os.path.basename(loader.group(1))] = loader.group(1)
        elif "not found" in line:
            raise AssertionError("unresolved library: " + line.strip())
    return libraries


def direct_sonames(binary):
    code, out = run(["objdump", "-p", binary])
    if code != 0:
        raise AssertionError("objdump -p %s failed" % binary)
    return re.findall(r"^\s*NEEDED\s+(\S+)$", out, re.M)


def dependency_closure(packages):
    """Installed packages reachable through Depends/Pre-Depends (what apt installs too)."""
    seen = set()
    pending = list(packages)
    while pending:
        package = pending.pop()
        if package in seen:
            continue
        seen.add(package)
        code, out = run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", package])
        if code != 0:
            continue
        for alternatives in out.split(","):
            for alternative in alternatives.split("|"):
                name = alternative.strip().split(" ")[0].split(":")[0]
                if name and run(["dpkg-query", "-W", name])[0] == 0:
                    pending.append(name)
    return seen


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = stages(read_dockerfile())

    def test_multi_stage_from_debian_bookworm(self):
        self.assertEqual(len(self.stages), 2)
        self.assertRegex(self.stages[0][0], r"^FROM debian:bookworm AS \w+$")
        self.assertEqual(self.stages[1][0], "FROM debian:bookworm-slim")

    def test_build_stage_installs_every_library_dev_package(self):
        # tools/install-deps lists what the build needs; test-only libraries aside, the
        # image's build stage must install the same -dev packages.
        with open(os.path.join(SOURCE_DIR, "tools", "install-deps"), encoding="utf-8") as f:
            listed = re.search(r"packages=\((.*?)\)", f.read(), re.S).group(1).split()
        # libclang-rt-14-dev: libFuzzer, for tools/fuzz only.
        test_only = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "libclang-rt-14-dev"}
        needed = {p for p in listed if p.endswith("-dev")} - test_only
        build_stage = " ".join(self.stages[0][1])
        for package in sorted(needed):
            self.assertIn(" " + package + " ", build_stage + " ",
                          "the build stage does not install " + package)

    def test_runtime_is_non_root_with_a_fixed_entry_point(self):
        runtime = self.stages[1][1]
        self.assertIn("USER 65532:65532", runtime)
        self.assertIn('ENTRYPOINT ["/usr/local/bin/tidemark"]', runtime)
        copies = [line for line in runtime if line.startswith("COPY")]
        self.assertEqual(copies, ["COPY --from=build /src/build/bin/%s /usr/local/bin/%s"
                                  % (program, program) for program in PROGRAMS])
        # apt leaves nothing behind, and nothing is written at run time.
        self.assertTrue(any("rm -rf /var/lib/apt/lists/*" in line for line in runtime))
        self.assertFalse(any(line.startswith("VOLUME") for line in runtime))

    def test_runtime_packages_provide_every_linked_library(self):
        listed = stage_arg(self.stages[1][1], "RUNTIME_LIBRARIES")
        closure = dependency_closure(listed)
        direct = {}
        for binary in BINARIES:
            self.assertTrue(os.path.isfile(binary),
                            "%s does not exist: build the tidemark targets first" % binary)
            libraries = linked_libraries(binary)
            for soname in direct_sonames(binary):
                self.assertIn(soname, libraries, "ldd does not resolve " + soname)
                package = owning_package(libraries[soname])
                direct[package] = soname
                self.assertIn(package, listed, "%s needs %s from %s: add it to RUNTIME_LIBRARIES"
                              % (binary, soname, package))
            for soname, path in sorted(libraries.items()):
                package = owning_package(path)
                self.assertIn(package, closure,
                              "%s (%s) comes from %s, which RUNTIME_LIBRARIES does not pull in"
                              % (soname, path, package))
        if EXACT:
            self.assertEqual(sorted(listed), sorted(direct),
                             "RUNTIME_LIBRARIES must list exactly the packages of the "
                             "libraries %s link" % " and ".join(BINARIES))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", action="append")
    parser.add_argument("--exact", action="store_true")
    args, rest = parser.parse_known_args()
    BINARIES = args.binary or BINARIES
    EXACT = args.exact
    unittest.main(argv=[sys.argv[0], "-v", *rest])
