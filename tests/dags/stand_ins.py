"""Local stand-ins of the two HTTP services the training DAG calls: Databricks' Jobs API and GitHub's REST API.

Each answers exactly the endpoints the DAG's code uses, records every call
(method, path, query, JSON body, Authorization header) and refuses anything
else with 404, so a test sees the calls a real service would get. Both bind
127.0.0.1 on a free port and run in a thread until ``stop()``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str


class StandIn:
    """An HTTP server whose ``route(call)`` returns (status, JSON document)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                call = Call(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    json.loads(raw) if raw else None,
                    self.headers.get("Authorization", ""),
                )
                with stand_in._lock:
                    stand_in.calls.append(call)
                    status, document = stand_in.route(call)
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll, so stop() returns at once instead of after serve_forever's default 0.5 s
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, call: Call) -> tuple[int, Any]:
        raise NotImplementedError

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


# --------------------------------------------------------------------------- Databricks


#: Dynamic value references of the training job's parameters, as Databricks documents them: the job run's id,
#: and the date the job run started, in UTC, ISO formatted.
JOB_RUN_ID = "{{job.run_id}}"
JOB_START_DATE = "{{job.start_time.iso_date}}"


def resolve_references(template: str, *, start_time_ms: int, run_id: int) -> str:
    """What Databricks writes for ``template`` in a run started at ``start_time_ms`` (epoch ms, UTC)."""
    started = datetime.datetime.fromtimestamp(start_time_ms // 1000, tz=datetime.timezone.utc)
    return template.replace(JOB_START_DATE, started.strftime("%Y-%m-%d")).replace(JOB_RUN_ID, str(run_id))


RUN_NOW = ("POST", "/api/2.2/jobs/run-now")
RUNS_GET = ("GET", "/api/2.2/jobs/runs/get")
RUNS_GET_OUTPUT = ("GET", "/api/2.2/jobs/runs/get-output")


@dataclass
class JobRun:
    """A run of the training job as the stand-in reports it once it terminated."""

    run_id: int
    job_id: int
    start_time_ms: int
    #: task key -> result state ("SUCCESS", "FAILED", "UPSTREAM_FAILED")
    task_states: dict[str, str]
    #: task key -> the error its output reports (failed tasks)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def result_state(self) -> str:
        return "SUCCESS" if all(s == "SUCCESS" for s in self.task_states.values()) else "FAILED"

    def task_run_id(self, index: int) -> int:
        return self.run_id * 10 + index + 1


class Databricks(StandIn):
    """The Jobs API 2.2 endpoints DatabricksRunNowOperator and DatabricksHook.get_run call.

    ``run-now`` starts the next run: ``execute(job_id, run_id, start_time_ms)``
    does what the job would have done (publish a version, or fail a task) and
    returns its JobRun, reported TERMINATED by ``runs/get``. ``runs/get-output``
    is what the operator asks for each failed task.
    """

    def __init__(self, execute: Callable[[int, int, int], JobRun], *, first_run_id: int, start_time_ms: int):
        self.execute = execute
        self.runs: dict[int, JobRun] = {}
        self._next_run_id = first_run_id
        self._start_time_ms = start_time_ms
        super().__init__()

    def route(self, call: Call) -> tuple[int, Any]:
        endpoint = (call.method, call.path)
        if endpoint == RUN_NOW:
            run_id = self._next_run_id
            self._next_run_id += 1
            run = self.execute(int(call.body["job_id"]), run_id, self._start_time_ms)
            self.runs[run_id] = run
            return 200, {"run_id": run_id, "number_in_job": run_id}
        if endpoint == RUNS_GET:
            run = self.runs.get(int(call.query.get("run_id", 0)))
            return (200, self._run_document(run)) if run else (404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})
        if endpoint == RUNS_GET_OUTPUT:
            for run in self.runs.values():
                for index, key in enumerate(run.task_states):
                    if run.task_run_id(index) == int(call.query.get("run_id", 0)):
                        return 200, {"error": run.errors.get(key, ""), "metadata": {"task_key": key}}
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST"}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"{call.method} {call.path}"}

    def _run_document(self, run: JobRun) -> dict[str, Any]:
        state = {"life_cycle_state": "TERMINATED", "result_state": run.result_state, "state_message": ""}
        return {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "number_in_job": run.run_id,
            "start_time": run.start_time_ms,
            "run_page_url": f"{self.url}/#job/{run.job_id}/run/{run.run_id}",
            "state": state,
            "tasks": [
                {
                    "task_key": key,
                    "run_id": run.task_run_id(index),
                    "attempt_number": 0,
                    "state": {"life_cycle_state": "TERMINATED", "result_state": result},
                }
                for index, (key, result) in enumerate(run.task_states.items())
            ],
        }


# --------------------------------------------------------------------------- GitHub


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class PullRequestRecord:
    number: int
    title: str
    head: str
    base: str
    body: str


class GitHub(StandIn):
    """One repository: branches of files, and the REST endpoints the release step calls.

    ``commits`` records each file committed through ``PUT contents`` as
    (branch, path, text); ``pulls`` each pull request opened.
    """

    def __init__(self, repository: str, files: dict[str, str], base: str = "main"):
        self.repository = repository
        self.branches: dict[str, dict[str, str]] = {base: dict(files)}
        self.heads: dict[str, str] = {base: "c" * 40}
        self.commits: list[tuple[str, str, str]] = []
        self.pulls: list[PullRequestRecord] = []
        super().__init__()

    def reset_repository(self, files: dict[str, str], base: str = "main") -> None:
        self.reset()
        self.branches, self.heads, self.commits, self.pulls = {base: dict(files)}, {base: "c" * 40}, [], []

    def route(self, call: Call) -> tuple[int, Any]:
        prefix = f"/repos/{self.repository}/"
        if not call.path.startswith(prefix):
            return 404, {"message": "Not Found"}
        path = call.path[len(prefix):]
        if call.method == "GET" and path.startswith("git/ref/heads/"):
            branch = path[len("git/ref/heads/"):]
            if branch not in self.heads:
                return 404, {"message": "Not Found"}
            return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": self.heads[branch], "type": "commit"}}
        if call.method == "GET" and path.startswith("contents/"):
            return self._get_file(path[len("contents/"):], call.query.get("ref", "main"))
        if call.method == "POST" and path == "git/refs":
            branch = call.body["ref"].removeprefix("refs/heads/")
            if branch in self.branches:
                return 422, {"message": "Reference already exists"}
            source = next(b for b, sha in self.heads.items() if sha == call.body["sha"])
            self.branches[branch] = dict(self.branches[source])
            self.heads[branch] = call.body["sha"]
            return 201, {"ref": call.body["ref"], "object": {"sha": call.body["sha"]}}
        if call.method == "PUT" and path.startswith("contents/"):
            return self._put_file(path[len("contents/"):], call.body)
        if call.method == "POST" and path == "pulls":
            if any(p.head == call.body["head"] and p.base == call.body["base"] for p in self.pulls):
                return 422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]}
            pull = PullRequestRecord(len(self.pulls) + 1, call.body["title"], call.body["head"], call.body["base"], call.body["body"])
            self.pulls.append(pull)
            return 201, self._pull_document(pull)
        if call.method == "GET" and path == "pulls":
            head = call.query.get("head", "").split(":", 1)[-1]
            return 200, [self._pull_document(p) for p in self.pulls if p.head == head]
        return 404, {"message": "Not Found"}

    def _pull_document(self, pull: PullRequestRecord) -> dict[str, Any]:
        return {"number": pull.number, "html_url": f"https://github.com/{self.repository}/pull/{pull.number}"}

    def _get_file(self, path: str, ref: str) -> tuple[int, Any]:
        text = self.branches.get(ref, {}).get(path)
        if text is None:
            return 404, {"message": "Not Found"}
        content = base64.b64encode(text.encode()).decode()
        return 200, {"type": "file", "encoding": "base64", "path": path, "sha": blob_sha(text), "content": content}

    def _put_file(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        branch = body["branch"]
        current = self.branches.get(branch, {}).get(path)
        if current is None or blob_sha(current) != body.get("sha"):
            return 409, {"message": f"{path} does not match {body.get('sha')}"}
        text = base64.b64decode(body["content"]).decode()
        self.branches[branch][path] = text
        self.heads[branch] = hashlib.sha1(f"{branch}{len(self.commits)}".encode()).hexdigest()
        self.commits.append((branch, path, text))
        return 200, {"content": {"path": path, "sha": blob_sha(text)}, "commit": {"sha": self.heads[branch]}}

    def endpoints(self) -> list[tuple[str, str]]:
        return [(c.method, c.path.removeprefix(f"/repos/{self.repository}/")) for c in self.calls]
