#!/usr/bin/python3
"""The container image as a user runs it: built from the Dockerfile by `tools/image run`,
which starts the engine, sets DOCKER_HOST and TIDEMARK_IMAGE, and stops everything after.

The programs answer --help read-only as uid 65532; every library they link is in the image;
the operator from the image (host network, read-only kubeconfig) reconciles the examples
against the test API server and a real PostgreSQL, serves /metrics, stops with exit 0 on
SIGTERM and writes nothing to its file system (`docker diff` empty). Prints the image's size
and each layer's share of it."""

import json
import os
import socket
import subprocess
import tempfile
import unittest
import urllib.request

from api_server import ApiServer

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
BINARY_DIR = os.environ.get("TIDEMARK_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
IMAGE = os.environ.get("TIDEMARK_IMAGE", "tidemark:dev")
DOCKER = "/usr/bin/docker"
KUBECTL = os.environ.get("KUBECTL", "kubectl")  # tests/CMakeLists.txt names the real one
# What the image may weigh: 97 MB when this was written (the slim base is 75 MB of it).
MAX_IMAGE_BYTES = 120_000_000
TIMEOUT = 120


def docker(*args, check=True):
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=TIMEOUT,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError("docker %s: exit %d\n%s%s" % (" ".join(args), result.returncode,
                                                           result.stdout, result.stderr))
    return result


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ImageTest(unittest.TestCase):
    def test_programs_answer_read_only_as_non_root(self):
        config = docker("image", "inspect", "-f", "{{.Config.User}} {{json .Config.Entrypoint}}",
                        IMAGE).stdout.strip()
        self.assertEqual(config, '65532:65532 ["/usr/local/bin/tidemark"]')
        for program, usage in (("tidemark", "tidemark: declarative database migrations"),
                               ("tidemark-operator",
                                "tidemark-operator: declarative database migrations")):
            ran = docker("run", "--rm", "--read-only", "--user", "65532:65532",
                         "--network=host", "--entrypoint", "/usr/local/bin/" + program, IMAGE,
                         "--help", check=False)
            self.assertEqual(ran.returncode, 0, ran.stderr)
            self.assertIn(usage, ran.stdout)
            self.assertIn("operator", ran.stdout)

    def test_every_linked_library_is_in_the_image(self):
        for program in ("tidemark", "tidemark-operator"):
            libraries = docker("run", "--rm", "--read-only", "--network=host", "--entrypoint",
                               "/usr/bin/ldd", IMAGE, "/usr/local/bin/" + program).stdout
            self.assertIn("libstdc++.so.6", libraries)
            self.assertNotIn("not found", libraries)

    def test_size_and_layers(self):
        size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
        layers = docker("history", "--no-trunc", "--human=false", "--format",
                        "{{.Size}}\t{{.CreatedBy}}", IMAGE).stdout.splitlines()
        print("\n%s: %.1f MB" % (IMAGE, size / 1e6))
        for line in layers:
            layer_size, created_by = line.split("\t", 1)
            if int(layer_size):
                print("  %6.1f MB %5.1f%%  %s" % (int(layer_size) / 1e6,
                                                  100 * int(layer_size) / size,
                                                  " ".join(created_by.split())[:90]))
        self.assertLess(size, MAX_IMAGE_BYTES)


class OperatorFromImageTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tidemark-image-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dir], check=False)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        server = ApiServer(SOURCE_DIR, BINARY_DIR, self.kubeconfig)
        self.addCleanup(server.stop)
        self.assertIn("listening on", server.first_line)
        os.chmod(self.kubeconfig, 0o644)  # the container's uid 65532 reads it

        sandbox = os.path.join(self.dir, "pg")
        self.addCleanup(subprocess.run, [os.path.join(SOURCE_DIR, "tools", "pg-sandbox"), "stop",
                                         sandbox], check=False)
        self.dsn = subprocess.run([os.path.join(SOURCE_DIR, "tools", "pg-sandbox"), "start",
                                   sandbox], capture_output=True, text=True, check=True
                                  ).stdout.strip()
        self.socket_dir = os.path.join(sandbox, "socket")
        self.container = "tidemark-image-test-%d" % os.getpid()
        self.addCleanup(docker, "rm", "-f", self.container, check=False)

    def kubectl(self, *args):
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir",
             os.path.join(self.dir, "cache"), *args],
            capture_output=True, text=True, timeout=TIMEOUT, check=False)
        self.assertEqual(result.returncode, 0, " ".join(args) + "\n" + result.stdout +
                         result.stderr)
        return result.stdout

    def test_operator_reconciles_and_stops_cleanly(self):
        self.kubectl("create", "secret", "generic", "shop-db", "--from-literal=dsn=" + self.dsn)
        port = free_port()
        # Not --read-only, so that `docker diff` would show anything the operator wrote.
        docker("run", "-d", "--name", self.container, "--network=host", "--user",
               "65532:65532", "-v", self.kubeconfig + ":/etc/tidemark/kubeconfig:ro",
               "-v", self.socket_dir + ":" + self.socket_dir, IMAGE, "operator",
               "--kubeconfig", "/etc/tidemark/kubeconfig",
               "--metrics-addr", "127.0.0.1:%d" % port)

        self.kubectl("apply", "-f", os.path.join(SOURCE_DIR, "examples", "shop"))
        waited = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir",
             os.path.join(self.dir, "cache"), "wait", "--for=condition=Ready", "mplan/shop",
             "--timeout=90s"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
        if waited.returncode != 0:
            logged = docker("logs", self.container, check=False)
            self.fail(waited.stdout + waited.stderr + logged.stdout + logged.stderr)
        self.assertRegex(self.kubectl("get", "mplan", "shop"),
                         r"shop\s+True\s+7\s+0\s+UpToDate")

        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as reply:
            metrics = reply.read().decode()
        self.assertIn('tidemark_steps_total{action="apply",result="success"} 7', metrics)
        self.assertIn('tidemark_plan_ready{namespace="default",plan="shop"} 1', metrics)

        docker("kill", "--signal=TERM", self.container)
        exit_code = docker("wait", self.container).stdout.strip()
        logged = docker("logs", self.container)
        logs = logged.stdout + logged.stderr
        self.assertEqual(exit_code, "0", logs)
        # Docker itself adds the mount points of the two volumes (and their folders).
        mount_points = set()
        for mount in json.loads(docker("inspect", "-f", "{{json .Mounts}}",
                                       self.container).stdout):
            path = mount["Destination"]
            while path != "/":
                mount_points.add(path)
                path = os.path.dirname(path)
        written = [line for line in docker("diff", self.container).stdout.splitlines()
                   if line.split(" ", 1)[1] not in mount_points]
        self.assertEqual(written, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
