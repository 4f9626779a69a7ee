"""The documents the components attach, as pure functions: typed inputs in, JSON-ready values out.

No module here imports Pulumi. A value a component only knows at deploy time
(a bucket name, an ARN) arrives already resolved (the component calls the
function inside ``Output.apply``) or is placed into the document untouched,
as an opaque value. Tests call these functions directly (tests/documents/).

``iam_policy``  statements, conditions and principals as types that refuse wildcard grants
``arns``        the ARN patterns the documents name
``iam``         every IAM policy and trust policy of the stack
``databricks``  the team's cluster policy definition
``airflow``     the Airflow connections and variables (Airflow's JSON connection format)
``kubernetes``  the serving pod template, its containers, probes and security contexts
``serving``     Service, NetworkPolicy, Ingress, HPA and PDB specs of one model
"""
