"""Turns captured steps into MigrationPlan YAML documents (inline, or ConfigMaps).

Shapes: SPEC section 1 (MigrationPlan) and docs/plan-format.md (steps in ConfigMaps).
"""

import dataclasses
from typing import Dict, List, Optional

import yaml

from .capture import ExportError, Step

API_VERSION = "tidemark.dev/v1alpha1"
# Kubernetes refuses a ConfigMap whose data exceeds 1 MiB; keep room for the key and object.
DEFAULT_CONFIGMAP_BYTES = 1000 * 1000


@dataclasses.dataclass
class PlanOptions:
    name: str
    namespace: str = "default"
    database: Optional[Dict] = None  # spec.database, e.g. {"dsnFrom": {"secretKeyRef": {...}}}
    python_steps: Optional[str] = None  # policy.pythonSteps when given
    ledger_id_type: Optional[str] = None  # spec.ledger.idType: what Django's recorder would create
    runner: Optional[Dict] = None  # spec.runner when given
    configmaps: bool = False
    configmap_bytes: int = DEFAULT_CONFIGMAP_BYTES


def terminate(statement: str) -> str:
    """One statement as a line-safe script fragment ending in `;`.

    A last line that holds `--` may end in a comment, so the terminator goes on a line of
    its own (an extra empty statement is harmless)."""
    text = statement.rstrip()
    last_line = text.rsplit("\n", 1)[-1]
    if "--" in last_line:
        return text + "\n;"
    return text if text.endswith(";") else text + ";"


def script(statements: List[str]) -> str:
    kept = [terminate(s) for s in statements if s.strip()]
    return "".join(s + "\n" for s in kept)


def step_document(step: Step) -> Dict:
    document = {
        "app": step.app,
        "name": step.name,
        "dependencies": step.dependencies,
        "atomic": step.atomic,
        "forward": script(step.forward),
    }
    if step.backward is not None:
        document["backward"] = script(step.backward)
    elif step.irreversible_reason:
        document["irreversibleReason"] = step.irreversible_reason
    if step.replaces:
        document["replaces"] = step.replaces
    if step.python_reasons:
        document["python"] = True
    if step.initial is not None:
        document["initial"] = bool(step.initial)
    if step.phase != "PreDeploy":
        document["phase"] = step.phase
    return document


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(document) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100000)


def _configmap(name: str, namespace: str, steps_yaml: str) -> Dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "tidemark-django"}},
        "data": {"steps.yaml": steps_yaml},
    }


def _split(step_texts: List[str], limit: int) -> List[str]:
    """Packs step texts, in order, into as few chunks of at most LIMIT bytes as possible."""
    chunks, current, size = [], [], 0
    for text in step_texts:
        length = len(text.encode("utf-8"))
        if length > limit:
            raise ExportError("one step needs %d bytes, more than a ConfigMap may hold (%d)" % (length, limit))
        if current and size + length > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(text)
        size += length
    if current:
        chunks.append("".join(current))
    return chunks


def documents(steps: List[Step], options: PlanOptions) -> List[Dict]:
    spec: Dict = {}
    if options.database:
        spec["database"] = options.database
    if options.ledger_id_type:
        spec["ledger"] = {"idType": options.ledger_id_type}
    step_documents = [step_document(s) for s in steps]
    configmaps = []
    if options.configmaps:
        # Each step dumped as a one-item list; their concatenation is the list's YAML.
        texts = [dump([d]) for d in step_documents]
        for index, chunk in enumerate(_split(texts, options.configmap_bytes)):
            configmaps.append(_configmap("%s-migrations-%d" % (options.name, index), options.namespace, chunk))
        spec["migrationsFrom"] = [{"configMapRef": {"name": c["metadata"]["name"]}} for c in configmaps]
    else:
        spec["migrations"] = step_documents
    if options.python_steps:
        spec["policy"] = {"pythonSteps": options.python_steps}
    if options.runner:
        spec["runner"] = options.runner
    plan = {
        "apiVersion": API_VERSION,
        "kind": "MigrationPlan",
        "metadata": {"name": options.name, "namespace": options.namespace},
        "spec": spec,
    }
    return [plan] + configmaps


def render(steps: List[Step], options: PlanOptions) -> str:
    return "---\n".join(dump(d) for d in documents(steps, options))
