#!/usr/bin/python3
"""`tools/demo cluster` works as README says, and leaves nothing behind: the API server, the
operator and PostgreSQL are stopped and the demo's folder is gone."""

import os
import re
import subprocess
import unittest

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
BINARY_DIR = os.environ.get("TIDEMARK_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))


class DemoTest(unittest.TestCase):
    def test_cluster_demo(self):
        # The programs are built already; tools/build finds them up to date in this build.
        env = dict(os.environ, BUILD_DIR=BINARY_DIR,
                   BUILD_TYPE=os.environ.get("TIDEMARK_BUILD_TYPE", "RelWithDebInfo"))
        demo = subprocess.run([os.path.join(SOURCE_DIR, "tools", "demo"), "cluster"],
                              capture_output=True, text=True, timeout=600, env=env, check=False)
        out = demo.stdout
        self.assertEqual(demo.returncode, 0, out + demo.stderr)
        self.assertIn("deployment.apps/tidemark created", out)
        self.assertIn("customresourcedefinition.apiextensions.k8s.io/migrationplans.tidemark.dev",
                      out)
        self.assertIn("secret/shop-db created", out)
        self.assertIn("migrationplan.tidemark.dev/shop condition met", out)
        self.assertRegex(out, r"shop\s+True\s+7\s+0\s+UpToDate")
        self.assertIn("the ledger now matches the plan", out)  # describe shows the event
        self.assertRegex(out, r"shop\s+False\s+7\s+\d+\s+RevertDenied")
        self.assertRegex(out, r"shop\s+True\s+5\s+0\s+UpToDate")
        self.assertIn('tidemark_steps_total{action="revert",result="success"} 2', out)
        self.assertIn("tidemark operator exited with 0.", out)

        sandbox = re.search(r"(/tmp/tidemark-demo-\w+)/pg", out).group(1)
        self.assertFalse(os.path.exists(sandbox))
        left = subprocess.run(["pgrep", "-a", "-f", sandbox], capture_output=True, text=True,
                              check=False).stdout
        self.assertEqual(left, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
