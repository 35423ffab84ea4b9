#!/usr/bin/python3
"""docs/gitops/argocd-health.lua, run by a real Lua interpreter (Debian lua5.4) the way Argo
CD runs it (the object as the global `obj`), on MigrationPlans as the controller writes them."""

import os
import subprocess
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "TIDEMARK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
LUA = "/usr/bin/lua5.4"
SCRIPT = os.path.join(SOURCE_DIR, "docs", "gitops", "argocd-health.lua")


def lua_literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join("[%s] = %s" % (lua_literal(str(k)), lua_literal(v))
                               for k, v in value.items()) + "}"
    raise TypeError(value)


def health(obj):
    """(status, message) as Argo CD would get them."""
    driver = """
local env = setmetatable({obj = %s}, {__index = _G})
local check = assert(loadfile(%s, "t", env))
local hs = check()
io.write(hs.status, "\\n", hs.message or "")
""" % (lua_literal(obj), lua_literal(SCRIPT))
    result = subprocess.run([LUA, "-"], input=driver, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise AssertionError("lua failed: " + result.stderr)
    status, _, message = result.stdout.partition("\n")
    return status, message


def plan(generation=2, observed=2, conditions=(), suspend=False):
    obj = yaml.safe_load("""
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: shop, namespace: prod, generation: %d}
spec: {database: {host: db}, suspend: %s}
""" % (generation, "true" if suspend else "false"))
    if observed is not None:
        obj["status"] = {"observedGeneration": observed, "conditions": [
            {"type": t, "status": s, "reason": r, "message": m, "observedGeneration": g,
             "lastTransitionTime": "2026-01-01T00:00:00Z"}
            for (t, s, r, m, g) in conditions]}
    return obj


class ArgoCdHealthTest(unittest.TestCase):
    def test_ready_at_current_generation_is_healthy(self):
        self.assertEqual(health(plan(conditions=[
            ("Ready", "True", "UpToDate", "12 steps applied", 2),
            ("Reconciling", "False", "UpToDate", "", 2),
            ("Stalled", "False", "UpToDate", "", 2)])),
            ("Healthy", "UpToDate: 12 steps applied"))

    def test_unobserved_generation_is_progressing(self):
        self.assertEqual(health(plan(generation=3, observed=2, conditions=[
            ("Ready", "True", "UpToDate", "", 2)])),
            ("Progressing", "Waiting for the controller to observe generation 3"))
        self.assertEqual(health(plan(observed=None))[0], "Progressing")

    def test_reconciling_is_progressing_with_its_reason(self):
        self.assertEqual(health(plan(conditions=[
            ("Ready", "False", "Applying", "applying shop.0004_order_status", 2),
            ("Reconciling", "True", "WaitingForLock", "another run holds the ledger lock", 2)])),
            ("Progressing", "WaitingForLock: another run holds the ledger lock"))

    def test_stalled_is_degraded_with_its_reason(self):
        self.assertEqual(health(plan(conditions=[
            ("Ready", "False", "MigrationFailed", "shop.0004 failed", 2),
            ("Stalled", "True", "MigrationFailed",
             'shop.0004_order_status statement 2: relation "shop_order" does not exist', 2)])),
            ("Degraded", 'MigrationFailed: shop.0004_order_status statement 2: relation '
                         '"shop_order" does not exist'))

    def test_stale_conditions_do_not_count(self):
        # A condition from generation 1 says nothing about generation 2's spec.
        status, _ = health(plan(conditions=[("Stalled", "True", "RevertDenied", "", 1),
                                            ("Ready", "False", "RevertDenied", "", 1)]))
        self.assertEqual(status, "Progressing")

    def test_new_plan_with_the_crds_default_status_is_progressing(self):
        # Before its first reconcile the API server gives the plan {observedGeneration: -1}:
        # the next sync wave (the app) waits for it.
        obj = plan(generation=1, observed=None)
        obj["status"] = {"observedGeneration": -1}
        self.assertEqual(health(obj),
                         ("Progressing", "Waiting for the controller to observe generation 1"))

    def test_post_deploy_steps_waiting_for_the_rollout_are_healthy(self):
        # Healthy, so that Argo CD syncs the app's wave and the rollout can happen at all.
        held = "1 post-deploy step waits for the app's rollout, next: apply shop.0005_drop_label"
        self.assertEqual(health(plan(conditions=[
            ("Ready", "True", "WaitingForRollout",
             "the pre-deploy steps are applied (4 steps applied); " + held, 2),
            ("Reconciling", "False", "WaitingForRollout", "", 2),
            ("Stalled", "False", "WaitingForRollout", "", 2),
            ("PostDeployPending", "True", "WaitingForRollout", held, 2)])),
            ("Healthy", "WaitingForRollout: the pre-deploy steps are applied (4 steps applied); "
                        + held))

    def test_waiting_for_approval_is_progressing_with_the_digest_to_approve(self):
        # Not Degraded: nothing is wrong, a person has to approve; the app's wave waits.
        waiting = ("1 step pending, next: apply shop.0005_total; waiting for approval of the "
                   "pending actions: review them (tidemark plan), then set spec.approvedDigest "
                   "(CLI: apply --approve) to sha256:" + "ab" * 32)
        self.assertEqual(health(plan(conditions=[
            ("Ready", "False", "WaitingForApproval", waiting, 2),
            ("Reconciling", "False", "WaitingForApproval", waiting, 2),
            ("Stalled", "False", "WaitingForApproval", "", 2)])),
            ("Progressing", "WaitingForApproval: " + waiting))
    def test_rollout_gate_in_every_phase(self):
        # spec.rollout: the plan first, the app second (an Argo CD sync wave after it).
        held = ("1 post-deploy step waits for the app's rollout, next: apply shop.0002_drop_name; "
                "waiting for ")

        def waiting(what):
            return [("Ready", "True", "WaitingForRollout",
                     "the pre-deploy steps are applied (1 steps applied); " + held + what, 2),
                    ("Reconciling", "False", "WaitingForRollout", "", 2),
                    ("Stalled", "False", "WaitingForRollout", "", 2),
                    ("PostDeployPending", "True", "WaitingForRollout", held + what, 2)]
        phases = [
            ("created, not reconciled", plan(generation=1, observed=-1), "Progressing"),
            ("the app does not exist yet", plan(conditions=waiting("Deployment web does not exist")),
             "Healthy"),
            ("old pods terminating", plan(conditions=waiting(
                "Deployment web: 1 pod of an older ReplicaSet left (terminating)")), "Healthy"),
            ("rolled back", plan(conditions=waiting(
                "Deployment web was rolled back: it runs ReplicaSet web-1, older than web-2")),
             "Healthy"),
            ("the released step runs", plan(conditions=[
                ("Ready", "False", "Applying", "1 steps to run, starting with shop.0002", 2),
                ("Reconciling", "True", "Applying", "1 steps to run, starting with shop.0002", 2),
                ("Stalled", "False", "Applying", "", 2)]), "Progressing"),
            ("the released step fails", plan(conditions=[
                ("Ready", "False", "MigrationFailed", "shop.0002_drop_name failed", 2),
                ("Reconciling", "False", "MigrationFailed", "stopped", 2),
                ("Stalled", "True", "MigrationFailed", "shop.0002_drop_name failed", 2)]),
             "Degraded"),
            ("applied", plan(conditions=[
                ("Ready", "True", "UpToDate", "2 steps applied", 2),
                ("Reconciling", "False", "UpToDate", "", 2),
                ("Stalled", "False", "UpToDate", "", 2)]), "Healthy"),
        ]
        for name, obj, expected in phases:
            self.assertEqual(health(obj)[0], expected, name)

    def test_suspended(self):
        self.assertEqual(health(plan(suspend=True))[0], "Suspended")


if __name__ == "__main__":
    unittest.main(verbosity=2)
