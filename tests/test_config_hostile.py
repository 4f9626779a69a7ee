"""A hostile pull request's stack file is refused before anything runs (issue 16, "Config").

The PR check reads a fork's stack file without trusting it: size and YAML
structure are bounded before parsing, the file cannot lower its own
environment, no free-form map carries a credential, and values follow the
real services' rules.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from infra.config import ConfigError
from infra.contract.limits import INGRESS_ANNOTATIONS, MAX_STACK_FILE_BYTES, MAX_YAML_ALIASES, SYSTEM_NAMESPACES
from infra.stack_source import StackFile, StackFileError
from tests.conftest import STACKS, set_path, stack_doc
from tests.conftest import parse_doc as parse

M = "model-platform:models.days-to-sell"
LABEL = "stacks/Pulumi.staging.yaml"



def problems(doc, stack="staging") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(doc, stack)
    return info.value.problems


def refused(text: str) -> tuple[str, float]:
    """The StackFileError of ``text`` and the CPU seconds it took to refuse it (CPU time: other work on a shared
    machine does not count)."""
    start = time.process_time()
    with pytest.raises(StackFileError) as info:
        StackFile.from_text(text, LABEL)
    return str(info.value), time.process_time() - start


# --------------------------------------------------------------------------- size and structure


def test_a_stack_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path):
    text = "config:\n" + "".join(f"  k{i}: {'v' * 60}\n" for i in range(MAX_STACK_FILE_BYTES // 60))
    message, seconds = refused(text)
    assert message.startswith(f"{LABEL}: is {len(text)} bytes, more than the {MAX_STACK_FILE_BYTES} a stack file may hold")
    assert seconds < 0.1
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError, match=r"^stacks/Pulumi.staging.yaml: is \d+ bytes, more than"):
        StackFile.load(path, LABEL)


def test_a_stack_file_just_under_the_limit_is_read():
    text = (STACKS / "Pulumi.staging.yaml").read_text()
    padded = text + "#" * (MAX_STACK_FILE_BYTES - len(text.encode()) - 1) + "\n"
    assert StackFile.from_text(padded, LABEL) == StackFile.from_text(text, LABEL)


def _bomb(levels: int, fan_out: int) -> str:
    lines = ["config:", "  model-platform:a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"  model-platform:a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan_out) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_of_a_million_elements_is_refused_fast_with_bounded_memory():
    text = _bomb(levels=5, fan_out=10)  # 50 aliases, 10**6 elements once followed
    tracemalloc.start()
    try:
        message, seconds = refused(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == f"{LABEL}: refused: expands to more than 20000 YAML nodes once its aliases are followed"
    assert seconds < 0.5 and peak < 5 * 2**20


def test_more_aliases_than_the_limit_are_refused_with_the_line():
    message, seconds = refused(_bomb(levels=9, fan_out=10))
    assert message == f"{LABEL}: refused: line 9: uses more than {MAX_YAML_ALIASES} YAML aliases (*name)"
    assert seconds < 0.5


def test_a_recursive_anchor_and_deep_nesting_are_refused():
    assert refused("config:\n  a: &a [x, *a]\n")[0] == (
        f"{LABEL}: refused: has a YAML alias inside its own anchor (a recursive structure)"
    )
    message, seconds = refused("config:\n  a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert message == f"{LABEL}: refused: line 2: nests mappings and lists more than 32 levels deep"
    assert seconds < 1


def test_a_few_merge_keys_stay_allowed():
    text = "config:\n  model-platform:tags: &t {team: a}\n  model-platform:other:\n    <<: *t\n    team: b\n"
    assert StackFile.from_text(text, LABEL).config["model-platform:other"] == '{"team": "b"}'


# --------------------------------------------------------------------------- the environment is the stack's name


@pytest.mark.parametrize(
    "stack,declared",
    [("prod", "staging"), ("prod", "dev"), ("prod-eu", "staging"), ("production", "dev"), ("staging", "prod"), ("staging", "dev")],
)
def test_a_stack_cannot_declare_another_environment_than_its_name(stack, declared):
    doc = set_path(stack_doc("prod"), "model-platform:environment", declared)
    found = problems(doc, stack)
    assert any(p.startswith(f"model-platform:environment: {declared!r} is not the environment of stack {stack!r}") for p in found), found


def test_a_prod_stack_claiming_staging_is_still_judged_as_prod():
    doc = set_path(stack_doc("prod"), "model-platform:environment", "staging")
    set_path(doc, f"{M}.serving.replicas", {"min": 1, "max": 4})
    found = problems(doc, "prod")
    assert f"{M}.serving.replicas.min: 1 is below 2, the prod minimum" in found


def test_a_stack_whose_name_names_no_environment_declares_its_own():
    assert parse(stack_doc("staging"), "qa").environment.value == "staging"
    assert parse(stack_doc("prod"), "prod-eu").environment.value == "prod"


# --------------------------------------------------------------------------- credentials in free-form maps

CREDENTIALS = {
    "aws-key": "AKIAIOSFODNN7EXAMPLE",
    "databricks": "dapi0123456789abcdef0123456789abcdef",
    "github": "ghp_" + "a1B2" * 9,
    "github-pat": "github_pat_" + "A1b2C3d4E5" * 3,
    "private-key": "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
}
FREE_FORM = [
    ("model-platform:tags", "key"),
    ("model-platform:kubernetes.allowedPodLabels", "key"),
    (f"{M}.training.parameters", "key"),
    (f"{M}.serving.ingress.annotations", "alb.ingress.kubernetes.io/healthcheck-path"),
    ("model-platform:airflow.connections.warehouse.extra", "key"),
]


def _with_map(path: str, value: dict) -> dict:
    doc = stack_doc("staging")
    if "ingress" in path:
        set_path(doc, f"{M}.serving.ingress", {"host": "days-to-sell.example.com"})
    if "warehouse" in path:
        set_path(doc, "model-platform:airflow.connections.warehouse", {"connType": "postgres"})
    return set_path(doc, path, value)


@pytest.mark.parametrize("path,key", FREE_FORM)
@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_a_value_shaped_like_a_credential_is_refused_in_every_free_form_map(path, key, kind):
    secret = CREDENTIALS[kind]
    with pytest.raises(ConfigError) as info:
        parse(_with_map(path, {key: secret}))
    assert any(p.startswith(path) and "looks like a" in p for p in info.value.problems), info.value.problems
    assert secret not in str(info.value) and secret[:12] not in str(info.value)


@pytest.mark.parametrize("path,_", [p for p in FREE_FORM if "ingress" not in p[0]])
@pytest.mark.parametrize("name", ["password", "db_pass", "apiKey", "aws_secret_access_key", "slack-token", "clientSecret"])
def test_a_key_named_like_a_credential_is_refused_in_every_free_form_map(path, _, name):
    found = problems(_with_map(path, {name: "plain"}))
    assert any("is a credential" in p for p in found), found


@pytest.mark.parametrize("name", ["max-tokens", "key-prefix", "partition-key", "tokenizer", "pass-through", "keyspace"])
def test_structural_names_are_not_credentials(name):
    parse(_with_map(f"{M}.training.parameters", {name: "x"}))


def test_a_connection_url_with_a_password_is_refused_without_echoing_it():
    doc = set_path(stack_doc("staging"), "model-platform:airflow.connections.warehouse", {"connType": "http", "host": "https://bob:hunter2@db.example.com"})
    with pytest.raises(ConfigError) as info:
        parse(doc)
    assert info.value.problems == [
        "model-platform:airflow.connections.warehouse.host: holds what looks like a URL with a password: a stack file "
        "holds no credential in plain text; keep it in a secure key (pulumi config set --secret NAME)"
    ]
    assert "hunter2" not in str(info.value)


# --------------------------------------------------------------------------- the services' own rules


@pytest.mark.parametrize(
    "name,why",
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("Bucket", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-bucket", "starting and ending"),
        ("bucket-", "starting and ending"),
        ("my..bucket", "no '..'"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "'xn--' is reserved"),
        ("sthree-bucket", "'sthree-' is reserved"),
        ("amzn-s3-demo-bucket", "'amzn-s3-demo-' is reserved"),
        ("bucket-s3alias", "'-s3alias' is reserved"),
        ("bucket--ol-s3", "'--ol-s3' is reserved"),
        ("bucket.mrap", "'.mrap' is reserved"),
        ("bucket--x-s3", "'--x-s3' is reserved"),
        ("bucket--table-s3", "'--table-s3' is reserved"),
    ],
)
@pytest.mark.parametrize("path", ["model-platform:bundleStore.bucketName", "model-platform:airflow.dags.bucket"])
def test_bucket_names_follow_all_of_s3s_rules(path, name, why):
    (problem,) = problems(set_path(stack_doc("staging"), path, name))
    assert problem.startswith(f"{path}: {name!r} is not an S3 bucket name") and why in problem, problem


@pytest.mark.parametrize("name", ["abc", "my.bucket.1", "a" * 63, "xn-bucket", "bucket-s3", "1-2-3"])
def test_valid_bucket_names_are_accepted(name):
    assert parse(set_path(stack_doc("staging"), "model-platform:bundleStore.bucketName", name)).bucket_name == name


@pytest.mark.parametrize(
    "field,value,ok",
    [
        ("requests.cpu", "0", False),
        ("requests.cpu", "0m", False),
        ("requests.cpu", "5m", False),
        ("requests.cpu", "100", False),
        ("requests.cpu", "10m", True),
        ("requests.cpu", "64", True),
        ("requests.memory", "0", False),
        ("requests.memory", "64Mi", False),
        ("limits.memory", "1Ti", False),
        ("limits.memory", "512Gi", True),
    ],
)
def test_quantities_stay_within_sane_bounds(field, value, ok):
    doc = set_path(stack_doc("staging"), f"{M}.serving.resources.{field}", value)
    if ok:
        parse(doc)
        return
    found = problems(doc)
    assert any(p.startswith(f"{M}.serving.resources.{field}: {value} is outside") for p in found), found


@pytest.mark.parametrize("namespace", SYSTEM_NAMESPACES)
@pytest.mark.parametrize("path", ["model-platform:kubernetes.namespace", "model-platform:airflow.namespace"])
def test_the_stacks_objects_never_go_in_a_system_namespace(path, namespace):
    (problem,) = problems(set_path(stack_doc("staging"), path, namespace))
    assert problem.startswith(f"{path}: {namespace!r} is a system namespace")


def test_a_system_namespace_may_still_be_admitted_to_call_the_models():
    parse(set_path(stack_doc("staging"), "model-platform:kubernetes.allowedNamespaces", ["kube-system"]))


@pytest.mark.parametrize(
    "annotation",
    [
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/auth-url",
        "nginx.ingress.kubernetes.io/whitelist-source-range",
        "alb.ingress.kubernetes.io/scheme",
        "alb.ingress.kubernetes.io/inbound-cidrs",
    ],
)
def test_ingress_annotations_come_from_the_allow_list(annotation):
    doc = _with_map(f"{M}.serving.ingress.annotations", {annotation: "x", INGRESS_ANNOTATIONS[0]: "/models/days-to-sell/meta"})
    assert problems(doc) == [
        f"{M}.serving.ingress.annotations.{annotation}: is not an annotation a stack may set: it could change who "
        "reaches the model or inject controller configuration (allowed: infra/contract/limits.py INGRESS_ANNOTATIONS)"
    ]


@pytest.mark.parametrize("key", ["aws:createdBy", "AWS:x"])
def test_aws_reserved_tag_keys_are_refused(key):
    (problem,) = problems(set_path(stack_doc("staging"), "model-platform:tags", {key: "x"}))
    assert problem == f"model-platform:tags: {key!r} is not a valid tag key: the 'aws:' prefix is reserved by AWS"


@pytest.mark.parametrize("value", ["yes", "true", "1", 1, "on"])
@pytest.mark.parametrize(
    "path", ["model-platform:bundleStore.protect", "model-platform:kubernetes.createNamespace", "model-platform:databricks.discoveryCluster.enabled"]
)
def test_booleans_are_booleans(path, value):
    (problem,) = problems(set_path(stack_doc("staging"), path, value))
    assert problem.startswith(f"{path}: ") and "valid boolean" in problem, problem


def test_yaml_yes_is_text_as_pulumi_reads_it_and_refused_where_a_boolean_is_expected():
    text = (STACKS / "Pulumi.staging.yaml").read_text().replace("    encryption: sse-s3\n", "    encryption: sse-s3\n    protect: yes\n")
    with pytest.raises(ConfigError) as info:
        StackFile.from_text(text, LABEL).stack_config()
    assert info.value.problems == ["model-platform:bundleStore.protect: 'yes': Input should be a valid boolean"]
    on = text.replace("protect: yes", "protect: true")
    assert StackFile.from_text(on, LABEL).stack_config().bundle_store.protect is True


def test_the_stack_named_by_the_caller_binds_the_environment_whatever_the_label():
    """``pulumi up`` and ``modelctl`` know the stack; a file planned under another label is still bound by it."""
    with pytest.raises(ConfigError) as info:
        StackFile.from_document(stack_doc("staging"), "fixtures/staging-copy.yaml").stack_config(stack="prod")
    assert "model-platform:environment: 'staging' is not the environment of stack 'prod'" in str(info.value)
