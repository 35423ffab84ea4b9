#!/usr/bin/python3
"""The Helm chart renders (tools/chart_render.py: no helm binary exists here) to valid YAML,
equal in substance to what `kubectl kustomize manifests/` builds, and its values do what
values.yaml says."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools"))
import chart_render  # noqa: E402

CHART = os.path.join(SOURCE_DIR, "charts", "tidemark")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
# Labels only Helm adds; everything else must match the plain manifests.
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def load_documents(text):
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def key(obj):
    return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace", ""),
            obj["metadata"]["name"])


def without_helm_labels(value):
    if isinstance(value, dict):
        return {k: without_helm_labels(v) for k, v in value.items() if k not in HELM_ONLY_LABELS}
    if isinstance(value, list):
        return [without_helm_labels(v) for v in value]
    return value


def render(*value_texts, release="tidemark", namespace="tidemark-system", include_crds=False):
    files = []
    try:
        for text in value_texts:
            f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
            f.write(text)
            f.close()
            files.append(f.name)
        return load_documents(chart_render.render_chart(CHART, release, namespace, files,
                                                        include_crds))
    finally:
        for name in files:
            os.unlink(name)


def kustomize(folder):
    result = subprocess.run([KUBECTL, "kustomize", os.path.join(SOURCE_DIR, folder)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError("kubectl kustomize %s failed: %s" % (folder, result.stderr))
    return load_documents(result.stdout)


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def container(objects):
    (deployment,) = by_kind(objects, "Deployment")
    (controller,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, controller


class DefaultsTest(unittest.TestCase):
    def test_defaults_equal_the_manifests(self):
        chart = {key(o): without_helm_labels(o) for o in render(include_crds=True)}
        manifests = {key(o): o for o in kustomize("manifests")}
        # Helm leaves the namespace to `helm install --create-namespace`.
        namespace = manifests.pop(("v1", "Namespace", "", "tidemark-system"))
        self.assertEqual(namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
                         "restricted")
        self.assertEqual(sorted(chart), sorted(manifests))
        for object_key, obj in manifests.items():
            self.assertEqual(chart[object_key], obj, object_key)

    def test_kustomize_core_has_no_prometheus_operator_kinds(self):
        kinds = {o["kind"] for o in kustomize("manifests/core")}
        self.assertEqual(kinds, {"CustomResourceDefinition", "Namespace", "ServiceAccount",
                                 "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                                 "Deployment", "Service"})

    def test_helm_labels_are_present(self):
        for obj in render():
            labels = obj["metadata"]["labels"]
            self.assertEqual(labels["app.kubernetes.io/managed-by"], "Helm", key(obj))
            self.assertEqual(labels["helm.sh/chart"], "tidemark-0.1.0", key(obj))

    def test_every_value_is_used(self):
        with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
            values = yaml.safe_load(f)
        used = set()
        templates = os.path.join(CHART, "templates")
        for name in os.listdir(templates):
            with open(os.path.join(templates, name), encoding="utf-8") as f:
                used.update(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", f.read()))

        def paths(value, prefix):
            if isinstance(value, dict) and value and prefix not in used:
                for k, v in value.items():
                    yield from paths(v, prefix + "." + k if prefix else k)
            else:
                yield prefix

        for path in paths(values, ""):
            self.assertIn(path, used, "values.yaml defines %s but no template uses it" % path)


class ValuesTest(unittest.TestCase):
    def test_image_replicas_resources_logging(self):
        objects = render("""
image: {repository: registry.example.com/tidemark, tag: "1.2.3", pullPolicy: Always}
imagePullSecrets: [{name: registry-login}]
replicaCount: 3
logLevel: debug
logFormat: text
workers: 8
dbIdleSessions: 4
resources: {requests: {cpu: 200m, memory: 128Mi}, limits: {cpu: null, memory: 1Gi}}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
""")
        deployment, controller = container(objects)
        self.assertEqual(deployment["spec"]["replicas"], 3)
        self.assertEqual(controller["image"], "registry.example.com/tidemark:1.2.3")
        self.assertEqual(controller["imagePullPolicy"], "Always")
        self.assertEqual(deployment["spec"]["template"]["spec"]["imagePullSecrets"],
                         [{"name": "registry-login"}])
        self.assertEqual(controller["resources"],
                         {"requests": {"cpu": "200m", "memory": "128Mi"},
                          "limits": {"memory": "1Gi"}})
        pod = deployment["spec"]["template"]["spec"]
        self.assertEqual(pod["nodeSelector"], {"kubernetes.io/os": "linux"})
        self.assertEqual(pod["tolerations"], [{"key": "dedicated", "operator": "Equal",
                                               "value": "ops", "effect": "NoSchedule"}])
        self.assertEqual(controller["args"],
                         ["operator", "--leader-elect", "--metrics-addr", ":8080", "--workers",
                          "8", "--db-idle-sessions", "4", "--log-level", "debug", "--log-format",
                          "text"])

    def test_watch_namespaces_bind_only_there(self):
        objects = render("watchNamespaces: [shop, billing]\nselector: team=payments\n",
                         release="mig", namespace="ops")
        _, controller = container(objects)
        args = controller["args"]
        self.assertEqual(args[args.index("--selector") + 1], "team=payments")
        watched = [args[i + 1] for i, a in enumerate(args) if a == "--namespace"]
        self.assertEqual(watched, ["shop", "billing"])
        self.assertEqual(by_kind(objects, "ClusterRoleBinding"), [])
        bindings = {(b["metadata"]["namespace"], b["roleRef"]["kind"], b["roleRef"]["name"])
                    for b in by_kind(objects, "RoleBinding")}
        self.assertEqual(bindings, {("shop", "ClusterRole", "mig-controller"),
                                    ("billing", "ClusterRole", "mig-controller"),
                                    ("ops", "Role", "mig-leader-election")})
        for binding in by_kind(objects, "RoleBinding"):
            self.assertEqual(binding["subjects"],
                             [{"kind": "ServiceAccount", "name": "mig", "namespace": "ops"}])

    def test_monitoring_objects_can_be_turned_off(self):
        objects = render("serviceMonitor: {enabled: false}\nprometheusRule: {enabled: false}\n")
        kinds = {o["kind"] for o in objects}
        self.assertNotIn("ServiceMonitor", kinds)
        self.assertNotIn("PrometheusRule", kinds)
        self.assertIn("Deployment", kinds)
        objects = render("serviceMonitor: {interval: 10s}\n")
        (monitor,) = by_kind(objects, "ServiceMonitor")
        self.assertEqual(monitor["spec"]["endpoints"][0]["interval"], "10s")

    def test_no_leader_election_with_one_replica(self):
        _, controller = container(render("replicaCount: 1\nleaderElection: false\n"))
        self.assertNotIn("--leader-elect", controller["args"])


class RendererTest(unittest.TestCase):
    """The renderer follows Go template rules for its subset and refuses anything else."""

    def render_text(self, template, values=None):
        nodes = chart_render.parse(chart_render.lex(template), {})
        return chart_render.Renderer({"Values": values or {}}, {}).render(
            nodes, {"Values": values or {}})

    def test_trim_markers_and_conditionals(self):
        self.assertEqual(self.render_text("a:\n  {{- if .Values.x }}\n  b: 1\n  {{- end }}\n",
                                          {"x": []}), "a:\n")
        self.assertEqual(self.render_text("{{ if .Values.x }}yes{{ else }}no{{ end }}",
                                          {"x": "0"}), "yes")
        self.assertEqual(self.render_text("{{ range .Values.x }}[{{ . }}]{{ else }}none{{ end }}",
                                          {"x": [1, "b"]}), "[1][b]")
        self.assertEqual(self.render_text("{{ range .Values.x }}[{{ . }}]{{ else }}none{{ end }}",
                                          {"x": []}), "none")

    def test_functions(self):
        self.assertEqual(self.render_text('{{ .Values.n | quote }} {{ "" | default "d" }}',
                                          {"n": 4}), '"4" d')
        self.assertEqual(self.render_text("x:{{ toYaml .Values.m | nindent 2 }}",
                                          {"m": {"b": 1, "a": "2"}}), "x:\n  a: '2'\n  b: 1")
        self.assertEqual(self.render_text('{{`{{ $labels.plan }}`}} {{ "}}" }}'),
                         "{{ $labels.plan }} }}")

    def test_refuses_what_it_does_not_know(self):
        for template in ("{{ .Values.missing }}", "{{ upper .Values.x }}", "{{ $x := 1 }}",
                         "{{ with .Values.x }}{{ end }}", "{{ (.Values.x) }}",
                         "{{ if .Values.x }}a{{ else if .Values.x }}b{{ end }}",
                         "{{ if .Values.x }}", "{{ .Values.m }}"):
            with self.assertRaises(chart_render.TemplateError, msg=template):
                self.render_text(template, {"x": "v", "m": {"a": 1}})


if __name__ == "__main__":
    unittest.main(verbosity=2)
