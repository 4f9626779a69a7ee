"""The base of every config block, and how validators report problems; shared by every module of infra/config/.

Blocks spell keys in camelCase, reject unknown keys and are frozen. A
validator reports each problem with the key path below its block, so
``parse_stack_config`` can name the full key of every one at once.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from pulumi import RunError
from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class ConfigError(RunError):
    """Every problem found in one stack file, reported together.

    A ``RunError``, so ``pulumi up`` prints the messages without a traceback.
    ``problems`` stay the same words wherever the config came from; ``lines``
    (one per problem, None where unknown) are the stack file's line numbers of
    the offending keys when it was read from a file, and ``located()`` puts
    them in, as compilers do: ``stacks/Pulumi.prod.yaml:42: model-platform:...``.
    """

    def __init__(self, source: str, problems: list[str], lines: Optional[Sequence[Optional[int]]] = None):
        self.source = source
        self.problems = problems
        self.lines: tuple[Optional[int], ...] = tuple(lines) if lines is not None else (None,) * len(problems)
        super().__init__("\n".join(self.located()))

    def located(self) -> list[str]:
        """Each problem as ``<source>[:<line>]: <problem>``."""
        return [f"{self.source}:{line}: {p}" if line else f"{self.source}: {p}" for p, line in zip(self.problems, self.lines)]


#: A problem a validator found: (key path below the validated block or field, "" for the field itself; message).
Problem = tuple[str, str]


def _err(subpath: str, message: str) -> PydanticCustomError:
    """The error of a validator that has a single check: one problem at ``subpath``."""
    return PydanticCustomError("cross_field", "{summary}", {"problems": ((subpath, message),), "summary": message})


def _raise_problems(problems: Iterable[Problem]) -> None:
    """Raise every problem a validator found, as one error.

    Pydantic keeps one error per validator, so a validator that stopped at its
    first problem would hide the rest; the list travels in the error's context
    and ``parse_stack_config`` reports each with its own key path.
    """
    found = tuple(problems)
    if found:
        raise PydanticCustomError(
            "cross_field", "{summary}", {"problems": found, "summary": "; ".join(message for _, message in found)}
        )


class _Model(BaseModel):
    """Base for every config block: camelCase keys, unknown keys rejected, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


class Block(_Model):
    """A config block. Stack files spell keys in camelCase only: a snake_case key is unknown
    (and, if it looks like a credential, refused as one), so no key has two spellings."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=_camel, validate_by_alias=True, validate_by_name=False
    )
