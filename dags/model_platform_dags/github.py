"""The release pull request, through GitHub's REST API: a branch, one commit of the stack file, a pull request.

The edit is modelctl's own (``pin_edit``, delivered beside this module): the
stack file is fetched from the base branch, the model's ``version`` and
``bundleSha256`` are set, and nothing else changes. A retried task carries on
where the last attempt stopped: an existing branch is reused (its file already
pinned: no second commit), an existing pull request is returned. Nothing here
merges: the pull request runs CI's policy check and preview like a human's.

Calls (``/repos/{owner}/{repo}`` prefix): ``GET git/ref/heads/{base}``,
``GET contents/{path}?ref=``, ``POST git/refs``, ``PUT contents/{path}``,
``POST pulls``; after a 422 on either POST: ``GET pulls?head=&base=``.
"""

from __future__ import annotations

import base64
import difflib
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import quote

import requests

from .pin_edit import BundlePin, PinDocument, PinEdit, edit_pin

#: GitHub's REST API version header.
API_VERSION = "2022-11-28"
#: Seconds before a GitHub call is given up (the task's retries take over).
TIMEOUT_SECONDS = 30


class GitHubError(RuntimeError):
    """A GitHub call failed; the message says which call, the status and GitHub's message (never the token)."""


@dataclass(frozen=True)
class GitHub:
    """One repository through the REST API: ``api_url`` (https://api.github.com, or GHES' /api/v3) and a token."""

    api_url: str
    repository: str
    token: str

    def __repr__(self) -> str:
        return f"GitHub({self.api_url!r}, {self.repository!r}, token=[secret])"

    def call(self, method: str, path: str, *, body: Optional[dict] = None, params: Optional[dict] = None, ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        """(status, JSON) of ``method`` on ``/repos/{repository}/{path}``; GitHubError unless the status is in ``ok``."""
        url = f"{self.api_url.rstrip('/')}/repos/{self.repository}/{path}"
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
        }
        try:
            response = requests.request(method, url, json=body, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise GitHubError(f"{method} {url}: {type(exc).__name__}: cannot reach GitHub") from None
        try:
            document = response.json() if response.content else None
        except ValueError:
            document = None
        if response.status_code not in ok:
            message = document.get("message") if isinstance(document, Mapping) else response.reason
            hint = {
                401: " (the token of the release connection is wrong or expired)",
                403: " (the token may not write to this repository: it needs Contents and Pull requests: write)",
                404: " (no such repository, branch or file, or the token cannot see it)",
            }.get(response.status_code, "")
            raise GitHubError(f"{method} {url}: {response.status_code} {message}{hint}")
        return response.status_code, document


@dataclass(frozen=True)
class PullRequest:
    url: str
    number: int
    branch: str
    #: "opened", "found" (opened by an earlier attempt) or "unchanged" (the base already pins the version: none needed).
    outcome: str
    #: The change the branch makes to the stack file, as ``git diff`` shows it ("" when unchanged).
    diff: str = ""


@dataclass(frozen=True)
class ReleaseRequest:
    """What to release, and where."""

    model: str
    pin: BundlePin
    base_branch: str
    stack_file: str
    title: str
    body: str

    @property
    def branch(self) -> str:
        """``release/<model>-<version>``: one branch per release, the same on every retry."""
        return f"release/{self.model}-{self.pin.version}"


def _file(github: GitHub, path: str, ref: str) -> tuple[str, str]:
    """(text, blob sha) of ``path`` at ``ref``."""
    _, document = github.call("GET", f"contents/{quote(path)}", params={"ref": ref})
    if not isinstance(document, Mapping) or document.get("type") != "file" or document.get("encoding") != "base64":
        raise GitHubError(f"{github.repository}/{path}@{ref}: not a file GitHub returned as base64 content")
    try:
        text = base64.b64decode(document["content"]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise GitHubError(f"{github.repository}/{path}@{ref}: not UTF-8 text") from None
    return text, str(document["sha"])


def _edit(text: str, request: ReleaseRequest, ref: str) -> PinEdit:
    return edit_pin(PinDocument(text, f"{request.stack_file}@{ref}"), request.model, request.pin)


def unified_diff(edit: PinEdit) -> str:
    """The edit as ``git diff`` shows it."""
    lines = difflib.unified_diff(
        edit.original.splitlines(True), edit.new_text.splitlines(True), f"a/{edit.label}", f"b/{edit.label}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _existing_pull(github: GitHub, request: ReleaseRequest) -> Optional[PullRequest]:
    owner = github.repository.split("/", 1)[0]
    _, pulls = github.call("GET", "pulls", params={"head": f"{owner}:{request.branch}", "base": request.base_branch, "state": "open"})
    for pull in pulls or []:
        return PullRequest(pull["html_url"], int(pull["number"]), request.branch, "found")
    return None


def open_release_pull_request(github: GitHub, request: ReleaseRequest) -> PullRequest:
    """Pin the release on its own branch and open the pull request; see the module's docstring for the calls.

    Raises PinConflict when the base already pins this version to another
    digest, PinEditError when the stack file cannot take the edit, GitHubError
    when a call fails.
    """
    _, ref = github.call("GET", f"git/ref/heads/{quote(request.base_branch)}")
    base_sha = ref["object"]["sha"]
    text, _ = _file(github, request.stack_file, request.base_branch)
    planned = _edit(text, request, request.base_branch)
    if planned.is_noop:
        return PullRequest("", 0, "", "unchanged")
    diff = unified_diff(planned)
    # 422: the branch exists, from an earlier attempt of this release; its file is read and edited below either way.
    github.call("POST", "git/refs", body={"ref": f"refs/heads/{request.branch}", "sha": base_sha}, ok=(201, 422))
    text, blob_sha = _file(github, request.stack_file, request.branch)
    edit = _edit(text, request, request.branch)
    if not edit.is_noop:
        github.call(
            "PUT",
            f"contents/{quote(request.stack_file)}",
            body={
                "message": request.title,
                "content": base64.b64encode(edit.new_text.encode("utf-8")).decode("ascii"),
                "sha": blob_sha,
                "branch": request.branch,
            },
            ok=(200, 201),
        )
    status, pull = github.call(
        "POST",
        "pulls",
        body={"title": request.title, "head": request.branch, "base": request.base_branch, "body": request.body},
        ok=(201, 422),
    )
    if status == 201:
        return PullRequest(pull["html_url"], int(pull["number"]), request.branch, "opened", diff)
    found = _existing_pull(github, request)
    if found is None:
        message = pull.get("message") if isinstance(pull, Mapping) else pull
        raise GitHubError(f"POST pulls ({request.branch} -> {request.base_branch}): 422 {message}")
    return PullRequest(found.url, found.number, found.branch, found.outcome, diff)
