#!/usr/bin/python3
"""The PrometheusRule alerts pass `promtool check rules` and behave as alerts_test.yaml says
(`promtool test rules`), in manifests/ and, identically, in the Helm chart."""

import os
import shutil
import subprocess
import tempfile
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PROMTOOL = "/usr/bin/promtool"


def rule_groups():
    with open(os.path.join(SOURCE_DIR, "manifests/monitoring/prometheusrule.yaml"),
              encoding="utf-8") as f:
        rule = yaml.safe_load(f)
    assert rule["kind"] == "PrometheusRule"
    return rule["spec"]


class AlertsTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="tidemark-alerts-")
        self.addCleanup(shutil.rmtree, self.folder)
        self.rules = os.path.join(self.folder, "rules.yaml")
        with open(self.rules, "w", encoding="utf-8") as f:
            yaml.safe_dump(rule_groups(), f)

    def promtool(self, *args):
        result = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False,
                                cwd=self.folder)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result

    def test_rules_pass_promtool_lint(self):
        result = self.promtool("check", "rules", "--lint=all", "--lint-fatal", self.rules)
        self.assertIn("SUCCESS: 6 rules found", result.stdout)

    def test_alerts_fire_when_they_should(self):
        shutil.copy(os.path.join(SOURCE_DIR, "tests/shipping/alerts_test.yaml"), self.folder)
        result = self.promtool("test", "rules", "alerts_test.yaml")
        self.assertIn("SUCCESS", result.stdout)

    def test_every_alert_is_tested(self):
        with open(os.path.join(SOURCE_DIR, "tests/shipping/alerts_test.yaml"),
                  encoding="utf-8") as f:
            tests = yaml.safe_load(f)["tests"]
        tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]
                  if case["exp_alerts"]}
        alerts = {rule["alert"] for group in rule_groups()["groups"] for rule in group["rules"]}
        self.assertEqual(tested, alerts)


if __name__ == "__main__":
    unittest.main(verbosity=2)
