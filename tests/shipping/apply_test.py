#!/usr/bin/python3
"""Every object of manifests/ and of the rendered chart is accepted by the test API server
(`kubectl apply`) and by `kubectl apply --dry-run=client --validate=false`."""

import os
import subprocess
import sys
import tempfile
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
BINARY_DIR = os.environ.get("TIDEMARK_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools"))
import chart_render  # noqa: E402

from api_server import ApiServer  # noqa: E402

KUBECTL = os.environ.get("KUBECTL", "kubectl")  # tests/CMakeLists.txt names the real one
MONITORING_CRDS = os.path.join(SOURCE_DIR, "tests", "shipping", "testdata",
                               "prometheus-operator-crds.yaml")


class ApplyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tidemark-apply-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.server = ApiServer(SOURCE_DIR, BINARY_DIR, self.kubeconfig)
        self.assertIn("listening on", self.server.first_line)

    def tearDown(self):
        self.server.stop()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def kubectl(self, *args, stdin=None):
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir",
             os.path.join(self.dir, "cache"), *args],
            input=stdin, capture_output=True, text=True, timeout=120, check=False)
        return result

    def assertApplied(self, *args, stdin=None):
        result = self.kubectl("apply", *args, stdin=stdin)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def test_kustomize_manifests_apply(self):
        self.assertApplied("-f", MONITORING_CRDS)
        out = self.assertApplied("-k", os.path.join(SOURCE_DIR, "manifests"))
        for created in ("namespace/tidemark-system", "serviceaccount/tidemark",
                        "clusterrole.rbac.authorization.k8s.io/tidemark-controller",
                        "deployment.apps/tidemark", "service/tidemark-metrics",
                        "servicemonitor.monitoring.coreos.com/tidemark",
                        "prometheusrule.monitoring.coreos.com/tidemark",
                        "customresourcedefinition.apiextensions.k8s.io/"
                        "migrationplans.tidemark.dev"):
            self.assertIn(created, out)
        deployment = self.kubectl("get", "deployment", "tidemark", "-n", "tidemark-system",
                                  "-o", "jsonpath={.spec.replicas}")
        self.assertEqual(deployment.stdout, "2")
        # Applying again changes nothing and still succeeds.
        self.assertIn("unchanged", self.assertApplied("-k", os.path.join(SOURCE_DIR, "manifests")))

    def test_wait_init_container_snippet(self):
        snippet = os.path.join(SOURCE_DIR, "docs", "gitops", "wait-init-container.yaml")
        self.assertIn("deployment.apps/shop-web created", self.assertApplied("-f", snippet))
        init = self.kubectl("get", "deployment", "shop-web", "-o",
                            "jsonpath={.spec.template.spec.initContainers[0].args}")
        self.assertEqual(init.returncode, 0, init.stderr)
        args = yaml.safe_load(init.stdout)
        self.assertEqual(args[0], "wait")
        # The real program takes the snippet's flags: against a database that is not there
        # it waits out the (shortened) timeout, exit 1, rather than refusing them (exit 2).
        timeout = args.index("--timeout")
        run = subprocess.run(
            [os.path.join(BINARY_DIR, "bin", "tidemark")] + args[:timeout] + args[timeout + 2:]
            + ["--timeout", "1s"],
            env=dict(os.environ, DATABASE_URL="host=/nonexistent dbname=shop user=app"),
            capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn("timed out after 1s; the ledger could not be read: cannot connect",
                      run.stderr)

    def test_client_dry_run_of_manifests_and_chart(self):
        built = subprocess.run([KUBECTL, "kustomize", os.path.join(SOURCE_DIR, "manifests")],
                               capture_output=True, text=True, check=True).stdout
        # A cluster with monitoring has the Prometheus Operator's CRDs installed already.
        self.assertApplied("-f", MONITORING_CRDS)
        out = self.assertApplied("--dry-run=client", "--validate=false", "-f", "-", stdin=built)
        self.assertEqual(out.count("(dry run)"), len(documents(built)))
        for values in ("", "replicaCount: 3\nwatchNamespaces: [shop, billing]\n"
                           "serviceMonitor: {enabled: false}\n"):
            rendered = render_chart(values)
            out = self.assertApplied("--dry-run=client", "--validate=false", "-f", "-",
                                     stdin=rendered)
            self.assertEqual(out.count("(dry run)"), len(documents(rendered)))

    def test_rendered_chart_applies(self):
        self.assertApplied("-f", MONITORING_CRDS)
        # As `helm install --namespace tidemark-system --create-namespace` does.
        created = self.kubectl("create", "namespace", "tidemark-system")
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertApplied("-f", "-", stdin=render_chart(""))
        roles = self.kubectl("get", "clusterrole", "-o", "name").stdout
        self.assertIn("clusterrole.rbac.authorization.k8s.io/", roles)


def documents(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_chart(values_text):
    files = []
    if values_text:
        handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        handle.write(values_text)
        handle.close()
        files.append(handle.name)
    try:
        chart = os.path.join(SOURCE_DIR, "charts", "tidemark")
        return chart_render.render_chart(chart, "tidemark", "tidemark-system", files, True)
    finally:
        for name in files:
            os.unlink(name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
