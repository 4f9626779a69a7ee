"""AWS identifiers the stack config accepts and the policy pack recognises in policies.

Part of ``infra.contract``: an account id the config takes
(``aws.accountId``) is the one the pack allows as a principal.
"""

from __future__ import annotations

#: An AWS account id: 12 digits.
ACCOUNT_ID = r"^\d{12}$"
#: Every ARN starts so (any partition: aws, aws-cn, aws-us-gov).
ARN = r"^arn:aws[a-z-]*:"
