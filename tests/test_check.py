"""``modelctl check``: the real pack, fed a stack's offline plan over the Analyzer protocol."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from infra.config import ConfigError
from infra.stack_source import StackFile
from modelctl.check import PolicyPackError, load_policy_config, run_pack
from modelctl.cli import main
from modelctl.engine import SECRET, Plan
from tests.conftest import plan_doc, set_path, stack_doc
from tests.fixtures.pack_in_process import checks_in_process

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PACK = ROOT / "policies"


def check(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def mandatory_policies(out: str) -> set[str]:
    return {
        line.split("] ", 1)[1].split(":", 1)[0] for line in out.splitlines() if line.strip().startswith("[mandatory]")
    }


@pytest.fixture
def pack_in_this_process() -> Iterator[None]:
    """The pack's own servicer in this process (tests/fixtures/pack_in_process.py), for what the pack judges in an
    edited stack: a real pack process costs a start per stack config. The committed stacks, the config errors and
    the pack's failures below run real pack processes over gRPC."""
    with checks_in_process():
        yield


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_committed_stacks_have_no_mandatory_violation(capsys, stack):
    code, out, err = check(capsys, stack)
    assert code == 0, out + err
    assert out.startswith(f"policy check of {stack} (model-platform@") and f"policies/{stack}.json" in out
    assert "[mandatory]" not in out
    # The plan holds values known only after deployment (ids, the KMS key's ARN): every rule judges around them.
    assert "during preview" not in out


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("prod-broken-storage", {"s3-bucket-encrypted"}),
        ("prod-broken-training", {"databricks-autotermination", "databricks-workers-capped", "databricks-job-retries"}),
        ("staging-broken-image", {"k8s-image-no-latest"}),
    ],
)
def test_a_broken_stack_fails_naming_the_rules_it_breaks(capsys, fixture, expected, pack_in_this_process):
    code, out, _ = check(capsys, str(FIXTURES / f"Pulumi.{fixture}.yaml"))
    assert code == 1
    assert mandatory_policies(out) == expected
    assert "how to fix:" in out and all(f"  {name}: " in out for name in expected)


def test_violations_are_grouped_under_their_resource(capsys, pack_in_this_process):
    _, out, _ = check(capsys, str(FIXTURES / "Pulumi.prod-broken-storage.yaml"))
    block = out.split("\n\n")[1].splitlines()
    assert block[0] == "aws:s3/bucket:Bucket bundle-store-bucket"
    assert block[1].startswith("  [mandatory] s3-bucket-encrypted: bucket 'model-platform-prod-bundles-444455556666'")


def test_a_policy_config_can_relax_a_rule_to_advisory(capsys, tmp_path):
    relaxed = json.loads((PACK / "prod.json").read_text())
    relaxed["s3-bucket-encrypted"] = {"enforcementLevel": "advisory", "requireKms": True}
    config = tmp_path / "relaxed.json"
    config.write_text(json.dumps(relaxed))
    code, out, _ = check(capsys, str(FIXTURES / "Pulumi.prod-broken-storage.yaml"), "--policy-config", str(config))
    assert code == 0
    assert "[advisory] s3-bucket-encrypted" in out


@pytest.mark.parametrize(
    "document, expected",
    [
        (
            {"all": "mandatory", "s3-bucket-encryptd": "advisory"},
            "s3-bucket-encryptd: not a policy of the model-platform pack",
        ),
        ({"k8s-serving-hpa": {"minReplicas": "two"}}, "k8s-serving-hpa: minReplicas: 'two' is not of type integer"),
        ({"k8s-serving-hpa": {"minReplica": 2}}, "'minReplica' is not a setting of this policy"),
        ({"all": "strict"}, "all: enforcement level 'strict' is not one of"),
    ],
)
def test_policy_config_errors_exit_2_naming_the_file_and_the_entry(capsys, tmp_path, document, expected):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(document))
    code, out, err = check(capsys, "staging", "--policy-config", str(config))
    assert code == 2 and out == ""
    assert expected in err and "bad.json" in err


def test_a_stack_config_error_exits_2_before_any_policy_runs(capsys, tmp_path):
    broken = tmp_path / "Pulumi.staging.yaml"
    broken.write_text(
        (ROOT / "stacks" / "Pulumi.staging.yaml").read_text().replace("environment: staging", "environment: qa")
    )
    code, out, err = check(capsys, str(broken))
    assert code == 2 and out == ""
    assert "model-platform:environment" in err


# --------------------------------------------------------------------------- tampered plans


def tampered(plan: Plan) -> Plan:
    """The plan with the mistakes config validation cannot let through, made by hand."""
    resources = copy.deepcopy(plan.resources)
    by_type = {r.type: r for r in resources}
    deployment = by_type["kubernetes:apps/v1:Deployment"]
    deployment.inputs["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1
    server = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    server.pop("readinessProbe")
    server["env"].append({"name": "DATABRICKS_TOKEN", "value": SECRET})
    reader = next(r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy")
    document = json.loads(reader.inputs["policy"])
    document["Statement"][0]["Action"] = ["s3:GetObject", "s3:PutObject"]
    reader.inputs["policy"] = json.dumps(document)
    job = by_type["databricks:index/job:Job"]
    job.inputs["tasks"].reverse()
    resources.remove(by_type["aws:s3/bucketVersioning:BucketVersioning"])
    resources.remove(by_type["kubernetes:policy/v1:PodDisruptionBudget"])
    return Plan(plan.stack, resources, plan.outputs)


def test_a_tampered_plan_fails_every_rule_it_breaks(real_plan):
    stack_file = StackFile.load(ROOT / "stacks" / "Pulumi.prod.yaml", "stacks/Pulumi.prod.yaml")
    result = run_pack(tampered(real_plan("prod")), stack_file, PACK / "prod.json", "policies/prod.json", PACK)
    assert result.policies_violated("mandatory") == {
        "k8s-rolling-update-keeps-capacity",
        "k8s-probes-set",
        "no-plain-credentials",
        "iam-reader-get-only",
        "databricks-job-tasks-sorted",
        "s3-bucket-versioned",
        "k8s-serving-pdb",
    }
    credential = next(v for v in result.violations if v.policy == "no-plain-credentials")
    assert credential.urn and credential.urn.endswith("Deployment::days-to-sell")
    stack_level = next(v for v in result.violations if v.policy == "s3-bucket-versioned")
    assert stack_level.urn and stack_level.urn.endswith("Bucket::bundle-store-bucket")


def test_a_canary_release_passes_the_prod_pack(pack_in_this_process):
    doc = set_path(
        stack_doc("prod"), "model-platform:models.days-to-sell.canary", {"version": "1.5.0", "bundleSha256": "c" * 64}
    )
    stack_file = StackFile.from_document(doc, "stacks/Pulumi.prod.yaml")
    result = run_pack(plan_doc(doc, "prod"), stack_file, PACK / "prod.json", "policies/prod.json", PACK)
    assert "Deployment days-to-sell-canary" in " ".join(result.resource_labels.values())
    assert result.mandatory == []


def test_a_folder_that_is_not_a_policy_pack_is_refused(real_plan, tmp_path):
    stack_file = StackFile.load(ROOT / "stacks" / "Pulumi.staging.yaml", "stacks/Pulumi.staging.yaml")
    with pytest.raises(PolicyPackError, match="PulumiPolicy.yaml"):
        run_pack(real_plan("staging"), stack_file, PACK / "staging.json", "policies/staging.json", tmp_path)


def test_a_missing_environment_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_policy_config(tmp_path / "dev.json", "policies/dev.json")
    assert err.value.source == "policies/dev.json"


# --------------------------------------------------------------------------- every environment has a policy config


def test_every_environment_has_a_policy_config_the_pack_accepts():
    """``check`` reads policies/<environment>.json: each environment the config accepts needs one that reconciles."""
    from google.protobuf import empty_pb2

    from infra.config import Environment
    from modelctl.check import PolicyPackProcess, pack_env, reconcile

    stack_file = StackFile.load(ROOT / "stacks" / "Pulumi.staging.yaml", "stacks/Pulumi.staging.yaml")
    with PolicyPackProcess(PACK, pack_env("staging", stack_file)) as pack:
        info = pack.connect().GetAnalyzerInfo(empty_pb2.Empty())
    for environment in Environment:
        label = f"policies/{environment.value}.json"
        effective = reconcile(info, load_policy_config(PACK / f"{environment.value}.json", label), label)
        assert set(effective) == {p.name for p in info.policies}


def test_a_dev_stack_is_checked_against_the_dev_policy_config(capsys, tmp_path, pack_in_this_process):
    dev = tmp_path / "Pulumi.dev.yaml"
    dev.write_text((ROOT / "stacks" / "Pulumi.staging.yaml").read_text().replace("environment: staging", "environment: dev"))
    code, out, err = check(capsys, str(dev))
    assert code == 0, out + err
    assert out.startswith("policy check of dev (model-platform@") and "policies/dev.json" in out


def test_a_value_known_only_after_deployment_is_not_judged(real_plan):
    """The pack gets the engine's unknown sentinel, as in `pulumi preview`, not the placeholder text."""
    plan = copy.deepcopy(real_plan("staging"))
    deployment = next(r for r in plan.resources if r.type == "kubernetes:apps/v1:Deployment")
    deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "[unknown]"
    stack_file = StackFile.load(ROOT / "stacks" / "Pulumi.staging.yaml", "stacks/Pulumi.staging.yaml")
    result = run_pack(plan, stack_file, PACK / "staging.json", "policies/staging.json", PACK)
    assert "k8s-image-no-latest" not in result.policies_violated("mandatory")
    assert any(
        v.policy == "k8s-image-no-latest" and v.level == "advisory" and "during preview" in v.message
        for v in result.violations
    )


def test_an_organisations_required_tags_are_enforced_through_the_policy_config(capsys, tmp_path, pack_in_this_process):
    org = json.loads((PACK / "prod.json").read_text())
    org["aws-tags"] = {"requiredTags": ["team", "cost-centre"]}
    config = tmp_path / "org.json"
    config.write_text(json.dumps(org))
    code, out, _ = check(capsys, str(FIXTURES / "Pulumi.prod-broken-tags.yaml"), "--policy-config", str(config))
    assert code == 1 and mandatory_policies(out) == {"aws-tags"}
    assert check(capsys, str(FIXTURES / "Pulumi.prod-broken-tags.yaml"))[0] == 0


def test_values_known_only_after_deployment_reach_the_pack_as_the_clis_unknown_sentinel(real_plan):
    """As `pulumi preview` of a new stack sends them: the id of a resource not created yet is the sentinel."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    from modelctl.check import WirePlan

    requests = {r.name: r for r in WirePlan(real_plan("prod")).requests()}
    assert UNKNOWN_STRING_VALUE == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert requests["training-policy-users"].properties["clusterPolicyId"] == UNKNOWN_STRING_VALUE
    assert requests["days-to-sell-training-permissions"].properties["jobId"] == UNKNOWN_STRING_VALUE
    # A document the program builds around the key's ARN is judged; its unknown part stays marked.
    reader = json.loads(requests["days-to-sell-reader-get"].properties["policy"])
    assert "arn:aws:kms:eu-west-2:444455556666:key/[unknown]" in [s["Resource"] for s in reader["Statement"]]


# --------------------------------------------------------------------------- the level comes from the stack's name


def hostile_prod(tmp_path: Path) -> Path:
    """A prod stack file that declares itself dev, as a pull request could, to get dev's advisory level."""
    hostile = tmp_path / "Pulumi.prod.yaml"
    hostile.write_text((ROOT / "stacks" / "Pulumi.prod.yaml").read_text().replace("environment: prod", "environment: dev"))
    assert "environment: dev" in hostile.read_text()
    return hostile


def test_a_prod_stack_declaring_dev_is_checked_at_prods_level(tmp_path, monkeypatch, real_plan):
    """Whatever the config parser makes of the declaration, check picks policies/prod.json by the stack's name."""
    import modelctl.check as check_module

    used: list[Path] = []
    monkeypatch.setattr(check_module, "plan_stack_file", lambda stack_file, stack: real_plan("prod"))
    monkeypatch.setattr(check_module, "run_pack", lambda plan, stack_file, path, label, pack_dir: used.append(path))
    stack_file = StackFile.load(hostile_prod(tmp_path), "Pulumi.prod.yaml")

    check_module.check_stack(stack_file, "prod", ROOT)

    assert used == [PACK / "prod.json"]


def test_the_cli_never_checks_a_hostile_prod_stack_at_dev_level(capsys, tmp_path, pack_in_this_process):
    code, out, err = check(capsys, str(hostile_prod(tmp_path)))
    assert code != 0, out
    assert "policies/dev.json" not in out + err


@pytest.mark.parametrize(
    "stack, environment",
    [
        ("prod", "prod"), ("prod-eu", "prod"), ("eu-prod", "prod"), ("production", "prod"),
        ("staging", "staging"), ("staging-broken-image", "staging"), ("dev", "dev"), ("dev-alice", "dev"),
        ("qa", "prod"), ("development", "prod"),
    ],
)
def test_a_stack_name_binds_its_policy_level_and_any_other_name_gets_the_strictest(stack, environment):
    from modelctl.check import environment_of_stack, policy_config_for_stack

    assert environment_of_stack(stack) == environment
    assert policy_config_for_stack(stack, ROOT) == PACK / f"{environment}.json"


def test_a_stacks_own_policy_config_wins(tmp_path):
    from modelctl.check import policy_config_for_stack

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "prod-eu.json").write_text("{}")
    assert policy_config_for_stack("prod-eu", tmp_path) == tmp_path / "policies" / "prod-eu.json"
    assert policy_config_for_stack("prod-us", tmp_path) == tmp_path / "policies" / "prod.json"


def test_a_stack_file_that_leaves_a_default_provider_enabled_is_refused(capsys, tmp_path):
    """Without it, a resource declared without the stack's own provider deploys with the runner's credentials.
    The error names the file and the key's line, as every config error does."""
    doc = stack_doc("staging")
    doc["config"]["pulumi:disable-default-providers"] = ["aws"]
    stack_file = tmp_path / "Pulumi.staging.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    stack_file.write_text(text)
    line = 1 + text.splitlines().index("  pulumi:disable-default-providers:")
    code, out, err = check(capsys, str(stack_file))
    assert code == 2 and out == ""
    assert (
        f"{stack_file}:{line}: pulumi:disable-default-providers: leaves the default provider of databricks, kubernetes "
        "enabled"
    ) in err


@pytest.mark.parametrize(
    ("disabled", "enabled"),
    [
        (["*"], None),
        (["kubernetes", "aws", "databricks"], None),
        (["aws"], "databricks, kubernetes"),
        ([], "aws, databricks, kubernetes"),
        ("*", "aws, databricks, kubernetes"),  # the setting is a list of package names; a bare string is not one
        (None, "aws, databricks, kubernetes"),  # not set at all
    ],
)
def test_every_package_the_plan_declares_a_provider_of_must_be_disabled(real_plan, disabled, enabled):
    from modelctl.check import default_providers_problem

    doc = stack_doc("staging")
    doc["config"]["pulumi:disable-default-providers"] = disabled
    if disabled is None:
        del doc["config"]["pulumi:disable-default-providers"]
    problem = default_providers_problem(StackFile.from_document(doc, "stacks/Pulumi.staging.yaml"), real_plan("staging"))
    if enabled is None:
        assert problem is None
    else:
        assert problem is not None and f"leaves the default provider of {enabled} enabled" in problem


def test_the_in_process_pack_judges_as_a_real_pack_process_does():
    """tests/fixtures/pack_in_process.py builds pulumi_policy's private servicer by hand; this keeps it honest:
    a stack with violations gets the very same CheckResult from it as from a started pack over gRPC."""
    from modelctl.check import check_stack

    stack_file = StackFile.load(FIXTURES / "Pulumi.prod-broken-storage.yaml")
    real = check_stack(stack_file, "prod", ROOT)
    with checks_in_process():
        in_process = check_stack(stack_file, "prod", ROOT)
    assert real.mandatory, "the fixture breaks mandatory rules"
    assert in_process == real
