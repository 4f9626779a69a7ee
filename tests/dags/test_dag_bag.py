"""Airflow's own DagBag loads the delivered DAG folder: one DAG per model, built from the manifest alone."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from tests.conftest import plan_doc, set_path, stack_doc, with_models
from tests.dags.conftest import deliver

TASKS = ["train", "run_version", "verify_bundle", "open_pull_request"]


def dag_bag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


@pytest.fixture(scope="module")
def staging_bag(airflow_home, staging_dags):
    return dag_bag(staging_dags)


def delivered(tmp_path: Path, doc: dict, stack: str) -> Path:
    return deliver(plan_doc(doc, stack), tmp_path / "dags")


def test_the_dag_folder_loads_with_no_import_error(staging_bag, staging_dags):
    assert staging_bag.import_errors == {}
    assert staging_bag.dag_ids == ["days-to-sell-training"]
    (parsed,) = {dag.fileloc for dag in staging_bag.dags.values()}
    assert Path(parsed) == staging_dags / "model_platform_dags" / "training_dags.py", "only the DAG file is parsed"


def test_each_dag_trains_derives_the_version_checks_the_bundle_and_opens_the_pull_request(staging_bag):
    dag = staging_bag.dags["days-to-sell-training"]
    assert [t.task_id for t in dag.topological_sort()] == TASKS
    for upstream, downstream in zip(TASKS, TASKS[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    train = dag.get_task("train")
    assert type(train).__name__ == "DatabricksRunNowOperator"
    assert train.job_id == "{{ var.value.days_to_sell_training_job_id }}", "the job id is read when the task runs"
    assert train.databricks_conn_id == "databricks_default"
    assert train.retries == 0, "a retry would start another run"
    assert train.execution_timeout == datetime.timedelta(minutes=5 * (120 * 2 + 5) + 60)
    assert dag.get_task("verify_bundle").retries == 2
    assert sorted(dag.tags) == ["days-to-sell", "model-platform", "staging"]
    assert dag.max_active_runs == 1 and not dag.catchup


def test_staging_trains_when_triggered(staging_bag):
    dag = staging_bag.dags["days-to-sell-training"]
    assert dag.schedule is None and type(dag.timetable).__name__ == "NullTimetable"


def test_an_airflow_schedule_runs_the_dag_on_its_cron_in_its_timezone(airflow_home, tmp_path):
    bag = dag_bag(delivered(tmp_path, stack_doc("prod"), "prod"))
    assert bag.import_errors == {}
    timetable = bag.dags["days-to-sell-training"].timetable
    assert type(timetable).__name__ == "CronTriggerTimetable"
    assert (timetable.expression, str(timetable.timezone)) == ("0 3 * * *", "Europe/London")


def test_every_model_of_the_stack_gets_its_dag(airflow_home, tmp_path):
    doc = with_models(stack_doc("staging"), ["days-to-sell", "price-band", "car-valuation"])
    bag = dag_bag(delivered(tmp_path, doc, "staging"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["car-valuation-training", "days-to-sell-training", "price-band-training"]
    assert bag.dags["price-band-training"].get_task("train").job_id == "{{ var.value.price_band_training_job_id }}"


def test_without_a_release_block_the_dag_stops_once_the_version_is_checked(airflow_home, tmp_path):
    doc = stack_doc("staging")
    del doc["config"]["model-platform:airflow"]["release"]
    bag = dag_bag(delivered(tmp_path, doc, "staging"))
    assert [t.task_id for t in bag.dags["days-to-sell-training"].topological_sort()] == TASKS[:-1]


def test_a_manifest_the_code_cannot_read_is_an_import_error_naming_file_and_key(airflow_home, tmp_path):
    folder = delivered(tmp_path, stack_doc("staging"), "staging")
    manifest = folder / "model_platform_dags" / "manifest.json"
    document = json.loads(manifest.read_text())
    del document["models"]["days-to-sell"]["variables"]["trainingJobId"]
    manifest.write_text(json.dumps(document))
    bag = dag_bag(folder)
    assert bag.dag_ids == []
    (error,) = bag.import_errors.values()
    assert f"{manifest}: models.days-to-sell.variables.trainingJobId: is missing or not a non-empty string" in error


def test_a_new_schedule_reaches_the_dag_through_the_manifest(airflow_home, tmp_path):
    doc = set_path(stack_doc("prod"), "model-platform:models.days-to-sell.training.schedule.cron", "30 4 * * 1-5")
    timetable = dag_bag(delivered(tmp_path, doc, "prod")).dags["days-to-sell-training"].timetable
    assert timetable.expression == "30 4 * * 1-5"


def test_the_delivered_modules_import_each_other_never_the_repository_or_pulumi(staging_dags):
    """On MWAA there is no infra/, no modelctl/ and no Pulumi: the package must stand on its own."""
    import subprocess
    import sys

    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import model_platform_dags.github, model_platform_dags.bundles, model_platform_dags.manifest;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('infra', 'modelctl', 'pulumi', 'airflow')))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(staging_dags)], capture_output=True, text=True, cwd=staging_dags, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def mount_like_kubernetes(package: Path, mount: Path) -> None:
    """Lay ``package``'s files out as the kubelet mounts a ConfigMap: in ``..<timestamp>/``, linked via ``..data``."""
    import shutil

    mount.mkdir(parents=True)
    shutil.copytree(package, mount / "..2026_12_02_03_00_00.000000001")
    (mount / "..data").symlink_to("..2026_12_02_03_00_00.000000001")
    for path in package.iterdir():
        (mount / path.name).symlink_to(Path("..data") / path.name)


@pytest.mark.parametrize("syntax", ["glob", "regexp"])
def test_a_configmap_mounted_as_the_package_folder_loads_too(airflow_home, staging_dags, tmp_path, monkeypatch, syntax):
    """Without the ignore rules for ..data and ..<timestamp>, Airflow stops the whole DAG folder's walk as a loop."""
    monkeypatch.setenv("AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX", syntax)
    mount_like_kubernetes(staging_dags / "model_platform_dags", tmp_path / "dags" / "model_platform_dags")
    (tmp_path / "dags" / "other_team.py").write_text("# another team's DAG file: parsed as usual\n")
    bag = dag_bag(tmp_path / "dags")
    assert bag.import_errors == {}
    assert bag.dag_ids == ["days-to-sell-training"]
