"""model-platform's training DAGs, as the stack delivers them to Airflow (one DAG per model of the stack).

This folder is a flat package the stack writes into Airflow's DAG folder as
``model_platform_dags/`` with every ``pulumi up`` (MWAA: objects in the
environment's bucket; self-hosted Airflow: a ConfigMap to mount there). Beside
these modules the stack puts ``manifest.json`` (what the stack declares for the
DAGs) and, byte for byte, the repository's ``infra/contract/model_version.py``,
``infra/contract/layout.py``, ``modelctl/pin_edit.py`` and ``modelctl/bundles.py``; see
infra/documents/dag_package.py. ``training_dags.py`` is the DAG file.
"""
