"""The facts the program, ``modelctl``, the training DAG and the policy pack must agree on, stated once.

Plain Python (standard library only): importable without the Pulumi SDK or
pydantic, so the policy pack and the DAG package use the very same facts as
the program (tests/contract/test_contract_is_pure.py imports them with the SDK
blocked). One module per fact:

``model_version``  the model version and bundle digest grammars, and their messages
``layout``         the bundle store's S3 key layout and URIs (shipped beside the DAG with ``model_version``)
``naming``         the project name, physical names, AWS tags and Kubernetes labels
``mleap_compat``   which Databricks runtime exports which MLeap version; the MLeap version grammar
``airflow``        conn ids, secret names and environment variables Airflow finds connections by
``aws``            the grammar of AWS account ids and ARNs
``limits``         thresholds the config enforces and the policy pack judges with (prod minimums)
``credentials``    what a credential looks like, by name or by value (refused in the config, flagged by the pack)
``training``       the named parameters the job passes to every training task; the package version placeholder
"""
