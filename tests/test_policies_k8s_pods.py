"""Pod rules over the Analyzer protocol, on every kind that runs pods: every apiVersion pulumi-kubernetes offers,
Patch and List variants, custom resources embedding containers. Node escape (k8s-pod-isolation), root
(k8s-security-context) and unused API tokens (k8s-service-account-token)."""

from __future__ import annotations

import copy
import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pytest

from model_platform_policy.k8s_pods import POD_TEMPLATE_PATHS
from tests.policy_programs import (
    ACCOUNT,
    Res,
    pack,  # noqa: F401  (the session's pack fixture)
)

ISOLATION = "k8s-pod-isolation"
ROOT = "k8s-security-context"
TOKEN = "k8s-service-account-token"
PULUMI_KUBERNETES = Path(next(iter(importlib.util.find_spec("pulumi_kubernetes").submodule_search_locations)))
DIGEST = "@sha256:" + "a" * 64
SECURE = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


@lru_cache(maxsize=1)
def sdk_pod_tokens() -> tuple[str, ...]:
    """Every type token pulumi-kubernetes declares for a kind that runs pods (any apiVersion, Patch, List)."""
    kinds = "|".join(POD_TEMPLATE_PATHS)
    pattern = re.compile(rf"['\"](kubernetes:[a-z0-9./]+:(?:{kinds})(?:Patch|List)?)['\"]")
    found = set()
    for path in PULUMI_KUBERNETES.rglob("*.py"):
        found.update(pattern.findall(path.read_text()))
    return tuple(sorted(found))


def pod_spec(**extra: Any) -> dict[str, Any]:
    """A hardened pod spec: a non-root, read-only, capability-free container that mounts no token."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": 10001, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "mleap",
                "image": "mleap-serving:0.23.0" + DIGEST,
                "securityContext": copy.deepcopy(SECURE),
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
            }
        ],
        **extra,
    }


def workload(token: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """Inputs of ``token`` whose (only) pod has ``spec``, placed where that kind keeps its pod."""
    kind = token.rsplit(":", 1)[-1].removesuffix("Patch").removesuffix("List")
    pod = {"metadata": {"labels": {"app": "x"}, "annotations": annotations or {}}, "spec": spec}
    obj: dict[str, Any] = {"metadata": {"name": "w", "namespace": "models"}}
    path = POD_TEMPLATE_PATHS[kind]
    if path:
        node = obj
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = pod
    else:
        obj.update(pod)
    return {"items": [obj]} if token.endswith("List") else obj


def first_container(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]


# --------------------------------------------------------------------------- every kind, every apiVersion


def test_the_sdk_offers_every_kind_in_several_api_versions_and_variants():
    tokens = sdk_pod_tokens()
    assert {t.rsplit(":", 1)[-1] for t in tokens} >= {
        f"{k}{v}" for k in POD_TEMPLATE_PATHS for v in ("", "Patch", "List")
    }
    assert "kubernetes:extensions/v1beta1:Deployment" in tokens and "kubernetes:batch/v1beta1:CronJob" in tokens


def test_a_privileged_container_is_refused_in_every_kind_api_version_and_variant(pack):
    privileged = pod_spec()
    first_container(privileged)["securityContext"]["privileged"] = True
    program = [Res(token, f"w{i}", workload(token, privileged)) for i, token in enumerate(sdk_pod_tokens())]
    found = pack.check(program)
    flagged = {f.resource for f in found.of(ISOLATION) if "securityContext.privileged is true" in f.message}
    assert {r.type for r in program if r.name not in flagged} == set()
    assert {f.level for f in found.of(ISOLATION)} == {"mandatory"}


def test_root_is_refused_in_every_kind_api_version_and_variant(pack):
    """A whole object with no runAsNonRoot runs as the image's user; a Patch is judged on what it sets (runAsUser 0)."""
    whole = pod_spec(securityContext={})
    first_container(whole)["securityContext"].pop("runAsNonRoot")
    patch = pod_spec(securityContext={"runAsUser": 0})
    program = [
        Res(token, f"w{i}", workload(token, patch if token.endswith("Patch") else whole))
        for i, token in enumerate(sdk_pod_tokens())
    ]
    found = pack.check(program)
    root = ("runAsNonRoot is not true", "runAsUser is 0")
    flagged = {f.resource for f in found.of(ROOT) if any(r in f.message for r in root)}
    assert {r.type for r in program if r.name not in flagged} == set()


def test_a_patch_is_judged_on_what_it_sets_not_on_what_it_leaves_out(pack):
    containers = [{"name": "mleap", "image": "x:1" + DIGEST}]
    metadata = {"name": "w", "namespace": "models"}
    patch = {"metadata": metadata, "spec": {"template": {"spec": {"containers": containers}}}}
    found = pack.check([Res("kubernetes:apps/v1:DeploymentPatch", "patch", patch)])
    assert found.of(ROOT) == [] and found.of(ISOLATION) == [] and found.of(TOKEN) == []


@pytest.mark.parametrize("token", sorted({t.replace("Patch", "").replace("List", "") for t in sdk_pod_tokens()}))
def test_a_hardened_pod_passes_in_every_kind(pack, token):
    found = pack.check([Res(token, "w", workload(token, pod_spec()))])
    assert found.of(ISOLATION) == [] and found.of(ROOT) == [] and found.of(TOKEN) == []


# --------------------------------------------------------------------------- each way out of the container


def _container(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    return lambda spec: change(first_container(spec))


def _context(**fields: Any) -> Callable[[dict[str, Any]], Any]:
    return _container(lambda c: c["securityContext"].update(fields))


ESCAPES = [
    (lambda s: s.update(hostNetwork=True), "hostNetwork is true"),
    (lambda s: s.update(hostPID=True), "hostPID is true"),
    (lambda s: s.update(hostIPC=True), "hostIPC is true"),
    (lambda s: s.update(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), "mounts the node's '/' (hostPath)"),
    (_context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "capabilities.add grants ['SYS_ADMIN']"),
    (_context(seccompProfile={"type": "Unconfined"}), "'mleap': securityContext.seccompProfile is Unconfined"),
    (lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}), "seccompProfile is Unconfined"),
    (lambda s: s["securityContext"].update(appArmorProfile={"type": "Unconfined"}), "appArmorProfile is Unconfined"),
    (_context(procMount="Unmasked"), "procMount is Unmasked"),
    (
        _container(lambda c: c.update(ports=[{"containerPort": 65327, "hostPort": 65327}])),
        "port 65327 is bound on the node (hostPort 65327)",
    ),
    (lambda s: s["securityContext"].update(windowsOptions={"hostProcess": True}), "hostProcess is true"),
    (
        lambda s: s.update(ephemeralContainers=[{"name": "debug", "securityContext": {"privileged": True}}]),
        "ephemeral container 'debug': securityContext.privileged is true",
    ),
]


@pytest.mark.parametrize("edit, expected", ESCAPES, ids=[e[1] for e in ESCAPES])
def test_each_way_into_the_node_is_refused(pack, edit, expected):
    spec = pod_spec()
    edit(spec)
    found = pack.check([Res("kubernetes:apps/v1:StatefulSet", "w", workload("kubernetes:apps/v1:StatefulSet", spec))])
    assert len(found.of(ISOLATION)) == 1 and expected in found.messages(ISOLATION)[0]


def test_a_legacy_unconfined_seccomp_annotation_is_refused(pack):
    token = "kubernetes:batch/v1:CronJob"
    annotations = {"container.seccomp.security.alpha.kubernetes.io/mleap": "unconfined"}
    found = pack.check([Res(token, "w", workload(token, pod_spec(), annotations))])
    assert found.messages(ISOLATION) == [
        "spec.jobTemplate.spec.template: annotation container.seccomp.security.alpha.kubernetes.io/mleap is unconfined"
    ]


def test_a_custom_resource_embedding_a_pod_is_judged_by_its_shape(pack):
    spec = pod_spec(hostPID=True)
    template = {"metadata": {}, "spec": spec}
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "spec": {"template": template}}
    found = pack.check([Res("kubernetes:argoproj.io/v1alpha1:Rollout", "rollout", rollout)])
    assert found.messages(ISOLATION) == ["spec.template.spec: hostPID is true: the pod shares its node's namespace"]


def test_a_helm_v3_release_hides_its_pods_and_is_refused(pack):
    release = {"chart": "some-chart", "repositoryOpts": {"repo": "https://charts.example.com"}, "values": {}}
    found = pack.check([Res("kubernetes:helm.sh/v3:Release", "chart", release)])
    assert len(found.of(ISOLATION)) == 1 and "no policy sees its pods" in found.messages(ISOLATION)[0]


def test_node_escape_is_mandatory_in_every_environment(pack):
    program = [Res("kubernetes:core/v1:Pod", "p", workload("kubernetes:core/v1:Pod", pod_spec(hostNetwork=True)))]
    for environment in ("dev", "staging", "prod"):
        assert [f.level for f in pack.check(program, environment).of(ISOLATION)] == ["mandatory"], environment


# --------------------------------------------------------------------------- API tokens


def deployment(spec: dict[str, Any]) -> Res:
    return Res("kubernetes:apps/v1:Deployment", "serving", workload("kubernetes:apps/v1:Deployment", spec))


def service_account(name: str, **fields: Any) -> Res:
    annotations = fields.pop("annotations", {})
    return Res(
        "kubernetes:core/v1:ServiceAccount",
        f"sa-{name}",
        {"metadata": {"name": name, "namespace": "models", "annotations": annotations}, **fields},
    )


def mounting(service_account_name: str = "default") -> dict[str, Any]:
    spec = pod_spec(serviceAccountName=service_account_name)
    spec.pop("automountServiceAccountToken")
    return spec


def test_a_pod_that_mounts_a_token_it_does_not_use_fails(pack):
    found = pack.check([deployment(mounting())])
    assert found.messages(TOKEN) == [
        "mounts the API token of ServiceAccount models/default, which no RoleBinding of this stack binds and "
        "which is no IRSA ServiceAccount"
    ]
    assert [f.level for f in found.of(TOKEN)] == ["mandatory"]
    assert [f.level for f in pack.check([deployment(mounting())], "staging").of(TOKEN)] == ["advisory"]


def test_an_explicit_automount_in_a_patch_fails_too(pack):
    patch = workload("kubernetes:apps/v1:DeploymentPatch", {"automountServiceAccountToken": True})
    assert len(pack.check([Res("kubernetes:apps/v1:DeploymentPatch", "p", patch)]).of(TOKEN)) == 1


@pytest.mark.parametrize(
    "extra",
    [
        [service_account("runner", automountServiceAccountToken=False)],
        [service_account("runner", annotations={"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/reader"})],
        [
            Res(
                "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                "binding",
                {
                    "metadata": {"name": "b", "namespace": "models"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                    "subjects": [{"kind": "ServiceAccount", "name": "runner"}],
                },
            )
        ],
    ],
    ids=["service-account-says-no", "irsa-service-account", "bound-by-rbac"],
)
def test_a_token_that_is_not_mounted_or_is_used_passes(pack, extra):
    assert pack.check([deployment(mounting("runner")), *extra]).of(TOKEN) == []


def test_a_service_account_that_mounts_leaves_the_pod_mounting(pack):
    found = pack.check([deployment(mounting("runner")), service_account("runner")])
    assert len(found.of(TOKEN)) == 1 and "models/runner" in found.messages(TOKEN)[0]


def test_the_pod_setting_overrides_the_service_accounts(pack):
    spec = copy.deepcopy(mounting("runner"))
    spec["automountServiceAccountToken"] = True
    found = pack.check([deployment(spec), service_account("runner", automountServiceAccountToken=False)])
    assert len(found.of(TOKEN)) == 1
