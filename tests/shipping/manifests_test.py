#!/usr/bin/python3
"""manifests/ (and the chart, which must equal it: chart_test.py) hang together and keep
their promises: the restricted Pod Security Standard, least-privilege RBAC, probes and
metrics on the port the controller listens on, a ServiceMonitor that selects the Service."""

import os
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def load(relative):
    with open(os.path.join(SOURCE_DIR, "manifests", relative), encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def one(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, "expected one %s %s, found %d" % (kind, name, len(found))
    return found[0]


def flag(args, name):
    return args[args.index(name) + 1]


class DeploymentTest(unittest.TestCase):
    def setUp(self):
        self.deployment = one(load("core/deployment.yaml"), "Deployment")
        self.pod = self.deployment["spec"]["template"]["spec"]
        (self.container,) = self.pod["containers"]

    def test_restricted_pod_security_standard(self):
        # https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted)
        pod_security = self.pod["securityContext"]
        container_security = self.container["securityContext"]
        self.assertTrue(pod_security["runAsNonRoot"])
        self.assertNotEqual(pod_security["runAsUser"], 0)
        self.assertEqual(pod_security["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertTrue(container_security["runAsNonRoot"])
        self.assertIs(container_security["allowPrivilegeEscalation"], False)
        self.assertIs(container_security["readOnlyRootFilesystem"], True)
        self.assertEqual(container_security["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(container_security["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertNotIn("privileged", container_security)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            self.assertNotIn(key, self.pod)
        for volume in self.pod.get("volumes", []):
            self.assertEqual(set(volume) - {"name"}, {"emptyDir"}, volume)
        for port in self.container["ports"]:
            self.assertNotIn("hostPort", port)
        # The image's user (Dockerfile: USER 65532:65532).
        self.assertEqual(pod_security["runAsUser"], 65532)

    def test_replicas_elect_a_leader(self):
        self.assertEqual(self.deployment["spec"]["replicas"], 2)
        args = self.container["args"]
        self.assertEqual(args[0], "operator")
        self.assertIn("--leader-elect", args)
        self.assertEqual(flag(args, "--log-format"), "json")
        self.assertEqual(flag(args, "--log-level"), "info")
        self.assertGreater(int(flag(args, "--workers")), 0)

    def test_probes_and_metrics_use_the_listening_port(self):
        port = int(flag(self.container["args"], "--metrics-addr").rsplit(":", 1)[1])
        (named,) = self.container["ports"]
        self.assertEqual((named["name"], named["containerPort"]), ("metrics", port))
        self.assertEqual(self.container["livenessProbe"]["httpGet"],
                         {"path": "/healthz", "port": "metrics"})
        self.assertEqual(self.container["readinessProbe"]["httpGet"],
                         {"path": "/readyz", "port": "metrics"})

    def test_resources_are_bounded(self):
        resources = self.container["resources"]
        self.assertIn("cpu", resources["requests"])
        self.assertIn("memory", resources["requests"])
        self.assertIn("memory", resources["limits"])

    def test_selector_matches_the_pod_template(self):
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in self.deployment["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(key), value)


class RbacTest(unittest.TestCase):
    def setUp(self):
        self.objects = load("core/rbac.yaml")
        self.account = one(load("core/serviceaccount.yaml"), "ServiceAccount")
        self.deployment = one(load("core/deployment.yaml"), "Deployment")

    @staticmethod
    def grants(role):
        return {(group, resource, verb) for rule in role["rules"]
                for group in rule["apiGroups"] for resource in rule["resources"]
                for verb in rule["verbs"]}

    def test_cluster_role_is_least_privilege(self):
        expected = {("tidemark.dev", "migrationplans", v) for v in ("get", "list", "watch")}
        expected |= {("tidemark.dev", "migrationplans/status", v)
                     for v in ("get", "patch", "update")}
        expected |= {("", r, v) for r in ("configmaps", "secrets")
                     for v in ("get", "list", "watch")}
        # spec.rollout: the app's workloads, read only.
        expected |= {("", "pods", v) for v in ("get", "list", "watch")}
        expected |= {("apps", r, v)
                     for r in ("deployments", "statefulsets", "replicasets", "controllerrevisions")
                     for v in ("get", "list", "watch")}
        expected |= {("events.k8s.io", "events", v) for v in ("create", "patch")}
        expected |= {("batch", "jobs", v) for v in ("create", "get", "list", "watch", "patch")}
        expected |= {("tidemark.dev", "migrationplans/finalizers", "update")}
        expected |= {("", r, v) for r in ("pods", "pods/log") for v in ("get", "list")}
        self.assertEqual(self.grants(one(self.objects, "ClusterRole")), expected)

    def test_leases_only_in_the_controllers_namespace(self):
        role = one(self.objects, "Role")
        self.assertEqual(role["metadata"]["namespace"],
                         self.deployment["metadata"]["namespace"])
        self.assertEqual(self.grants(role), {("coordination.k8s.io", "leases", v)
                                             for v in ("get", "create", "update")})

    def test_bindings_name_the_service_account_the_pods_use(self):
        self.assertEqual(self.deployment["spec"]["template"]["spec"]["serviceAccountName"],
                         self.account["metadata"]["name"])
        subject = {"kind": "ServiceAccount", "name": self.account["metadata"]["name"],
                   "namespace": self.account["metadata"]["namespace"]}
        for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
            binding = one(self.objects, kind)
            self.assertEqual(binding["subjects"], [subject])
            self.assertEqual(binding["roleRef"]["name"],
                             one(self.objects, role_kind)["metadata"]["name"])


class MonitoringTest(unittest.TestCase):
    def test_service_monitor_scrapes_the_metrics_service(self):
        service = one(load("core/service.yaml"), "Service")
        deployment = one(load("core/deployment.yaml"), "Deployment")
        monitor = one(load("monitoring/servicemonitor.yaml"), "ServiceMonitor")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in service["spec"]["selector"].items():
            self.assertEqual(pod_labels.get(key), value)
        for key, value in monitor["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(service["metadata"]["labels"].get(key), value)
        self.assertEqual(monitor["spec"]["namespaceSelector"]["matchNames"],
                         [service["metadata"]["namespace"]])
        (endpoint,) = monitor["spec"]["endpoints"]
        (port,) = service["spec"]["ports"]
        self.assertEqual((endpoint["port"], endpoint["path"]), (port["name"], "/metrics"))
        self.assertEqual(port["targetPort"], "metrics")
        self.assertIs(endpoint["honorLabels"], True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
