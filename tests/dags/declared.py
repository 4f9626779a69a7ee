"""Run a program under Pulumi mocks that keep secret inputs: what ``pulumi up`` would send, values included.

``modelctl``'s engine redacts secrets, as a reviewer must see them; these
tests need the values themselves (a connection's JSON, the variables) to hand
them to Airflow. Inputs are kept as declared (secrets still marked secret, see
``is_secret``); ``reveal`` unwraps them. Resource ids are numeric, as
Databricks' job ids are.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi

from infra.config import PROJECT
from infra.stack_source import StackFile
from modelctl.engine import _invoke_result
from tests.conftest import stack_doc, with_models

SM_SECRET = "aws:secretsmanager/secret:Secret"
SM_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
#: The models of ``declared_two_models``: the stack's own and a second one, so every per-model rule is seen twice.
TWO_MODELS = ("days-to-sell", "price-band")
#: Where the fake resources live.
MOCK_REGION, MOCK_ACCOUNT = "eu-west-2", "210987654321"


def is_secret(value: Any) -> bool:
    from pulumi.runtime import rpc

    return rpc.is_rpc_secret(value)


def reveal(value: Any) -> Any:
    """The value with every secret wrapper removed, however deeply nested."""
    from pulumi.runtime import rpc

    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


@dataclass
class Declared:
    """Resources a program declared, with secret inputs kept (and remembered as secret)."""

    inputs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {name: inputs for (t, name), inputs in self.inputs.items() if t == type_}

    def secrets(self) -> dict[str, str]:
        """Every Secrets Manager secret the stack writes: name -> value, revealed."""
        versions = self.of_type(SM_VERSION)
        return {secret["name"]: reveal(versions[name]["secretString"]) for name, secret in self.of_type(SM_SECRET).items()}

    def objects(self) -> dict[tuple[str, str], str]:
        """Every S3 object the stack writes: (bucket, key) -> content."""
        return {(reveal(o["bucket"]), reveal(o["key"])): reveal(o["content"]) for o in self.of_type(BUCKET_OBJECT).values()}


def mock_arn(type_: str, name: str, inputs: dict[str, Any]) -> str:
    """A secret's ARN as Secrets Manager shapes it (name plus a random suffix); a placeholder for the rest."""
    if type_ == SM_SECRET:
        return f"arn:aws:secretsmanager:{MOCK_REGION}:{MOCK_ACCOUNT}:secret:{inputs['name']}-AbC123"
    return f"arn:aws:mock:::{name}"


def declare(
    program: Callable[[], Optional[dict[str, pulumi.Output]]], config: dict[str, Any] | None = None, secret_keys=()
) -> Declared:
    """Run ``program`` under Pulumi mocks; its returned outputs are resolved into ``Declared.outputs``."""
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    declared = Declared()

    class Capture(pulumi.runtime.Mocks):
        def new_resource(self, args):
            rid = str(700000 + len(declared.ids))
            declared.inputs[(args.typ, args.name)] = args.inputs
            declared.ids[(args.typ, args.name)] = rid
            return rid, {**{k: reveal(v) for k, v in args.inputs.items()}, "arn": mock_arn(args.typ, args.name, args.inputs)}

        def call(self, args):
            # The data sources the program reads (e.g. the EKS cluster of the kubernetes provider), faked as modelctl does.
            return _invoke_result(args.token, args.args, MOCK_REGION, MOCK_ACCOUNT)

    def run() -> None:
        try:
            asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            asyncio.set_event_loop(asyncio.new_event_loop())
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))
        pulumi.runtime.set_mocks(Capture(), project=PROJECT, stack="test", preview=False)
        exported: dict[str, pulumi.Output] = {}
        _sync_await(run_pulumi_func(lambda: exported.update(program() or {})))
        declared.outputs = {k: _sync_await(pulumi.Output.from_input(v).future()) for k, v in exported.items()}

    contextvars.Context().run(run)
    return declared


def stack_file(doc: dict, stack: str, secrets: dict[str, str]) -> StackFile:
    """The stack file as the runtime sees it after decryption: ``secrets`` replace the placeholders."""
    sf = StackFile.from_document(doc, f"stacks/Pulumi.{stack}.yaml")
    config = dict(sf.config)
    keys = set(sf.secret_keys)
    for key, value in secrets.items():
        config[f"{PROJECT}:{key}"] = value
        keys.add(f"{PROJECT}:{key}")
    return StackFile(sf.path, sf.label, config, tuple(sorted(keys)))


def declare_stack(doc: dict, stack: str, secrets: dict[str, str]) -> Declared:
    """The whole program (``infra.program.main``) on a stack document, as ``pulumi up`` runs it."""
    from infra.program import main

    sf = stack_file(doc, stack, secrets)
    return declare(main, sf.config, sf.secret_keys)


@functools.cache
def declared_two_models(stack: str) -> Declared:
    """The whole program (``infra.program.main``) on ``stack`` with ``TWO_MODELS``, as ``pulumi up`` runs it.

    Declared once per process and shared (read it, never edit it): a declaration
    costs as much as a plan, and tests/test_airflow.py and test_dag_files.py read
    the same staging one. The secrets' values are stand-ins no test reads back.
    """
    secrets = {"databricksClientSecret": "client-secret", "githubReleaseToken": "github-token"}
    return declare_stack(with_models(stack_doc(stack), list(TWO_MODELS)), stack, secrets)
