"""The test Kubernetes API server as a program (tidemark-test-apiserver), for script tests."""

import os
import signal
import subprocess


class ApiServer:
    """Serves with the MigrationPlan CRD installed; writes a kubeconfig for itself."""

    def __init__(self, source_dir, binary_dir, kubeconfig):
        self.kubeconfig = kubeconfig
        self.process = subprocess.Popen(
            [os.path.join(binary_dir, "bin", "tidemark-test-apiserver"), "--crd",
             os.path.join(source_dir, "crds", "migrationplans.tidemark.dev.yaml"),
             "--kubeconfig-out", kubeconfig],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.first_line = self.process.stdout.readline()

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.process.stdout.close()
