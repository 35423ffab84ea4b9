#!/usr/bin/python3
"""The CRD shipped by manifests/ and by the Helm chart is exactly the one in crds/
(tools/sync-crds copies it; this fails when a copy is stale or missing)."""

import filecmp
import os
import unittest

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
COPIES = ("manifests/core/crds", "charts/tidemark/crds")


class CrdCopiesTest(unittest.TestCase):
    def test_copies_match_the_source(self):
        source = os.path.join(SOURCE_DIR, "crds")
        names = sorted(n for n in os.listdir(source) if n.endswith(".yaml"))
        self.assertIn("migrationplans.tidemark.dev.yaml", names)
        for copy in COPIES:
            folder = os.path.join(SOURCE_DIR, copy)
            self.assertEqual(sorted(os.listdir(folder)), names,
                             "%s differs from crds/: run tools/sync-crds" % copy)
            for name in names:
                self.assertTrue(
                    filecmp.cmp(os.path.join(source, name), os.path.join(folder, name),
                                shallow=False),
                    "%s/%s is stale: run tools/sync-crds" % (copy, name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
