"""Samples run in a child process, so that a sample which kills the process is a failure.

A segfault in XLA or torch ends the Python process that runs it: in-process, pytest would
lose the rest of the run and report nothing about the sample. The long profile therefore
runs every sample in a worker process (``Worker``), one per pytest process, that stays
alive from entry to entry (its imports, about ten seconds, are paid once). The worker
announces each sample before running it; when it dies (a signal, an abort) the sample it
was running is reported ``crashed`` with the signal and the worker's faulthandler
traceback, a new worker starts, and the entry resumes at the next sample. A sample that
runs past ``timeout`` seconds is killed and reported ``timeout``. Both count as failures.

The child side is ``python -m tests.conformance._worker``: it reads one JSON request per
line on stdin and writes JSON lines on its own channel (the process's original stdout; its
fd 1 is pointed at stderr, so a stray print from a library cannot corrupt the protocol).

``JAXNN_CONFORMANCE_CRASH=<entry id>[<index>]`` makes the child kill itself with SIGSEGV
when it reaches that sample, ``JAXNN_CONFORMANCE_HANG=<entry id>[<index>]`` makes it sleep
there: the test of this machinery (tests/conformance/test_harness.py).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CRASH_ENV = "JAXNN_CONFORMANCE_CRASH"
HANG_ENV = "JAXNN_CONFORMANCE_HANG"
STARTUP = 900.0  # seconds a new child may take to import and generate an entry's samples


class WorkerError(RuntimeError):
    """The worker died before it could run any sample (an import error, most likely)."""


class Worker:
    """A child process that runs an entry's samples; ``run`` yields their ``Outcome``s,
    crashes and timeouts included, restarting the child as needed."""

    def __init__(self, timeout: float = 1800.0, nice: int = 0, log: Path | None = None) -> None:
        self.timeout = timeout
        self.nice = nice
        self.log_path = log
        self.proc: subprocess.Popen | None = None
        self._buffer = b""
        self._log: Any = None

    # ------------------------------------------------------------------ process
    def _start(self) -> None:
        if self._log is None:  # one file for all the worker's children, closed in close()
            path = self.log_path
            self._log = tempfile.TemporaryFile("w+b") if path is None else path.open("a+b")
        self._log.seek(0, os.SEEK_END)
        self._log.write(f"\n=== {time.ctime()} worker started\n".encode())
        self._log.flush()
        self._log_start = self._log.tell()
        cmd = [sys.executable, "-m", "tests.conformance._worker"]
        if self.nice:
            cmd = ["nice", "-n", str(self.nice), *cmd]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )
        self._buffer = b""

    def _stop(self, kill: bool = False) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if kill:
            proc.kill()
        try:
            proc.stdin.close()  # the child's loop ends at the end of its input
        except OSError:
            pass
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        proc.stdout.close()
        return rc

    def close(self) -> None:
        self._stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self, n: int = 40) -> str:
        """The end of what the child wrote to stderr, without faulthandler's module list."""
        self._log.flush()
        self._log.seek(self._log_start)
        text = self._log.read().decode(errors="replace")
        self._log.seek(0, os.SEEK_END)
        lines = [ln for ln in text.splitlines() if not ln.startswith("Extension modules:")]
        return "\n".join(lines[-n:])

    def _send(self, request: dict) -> None:
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def _receive(self, deadline: float) -> dict | str:
        """The next message; "ended" when the child closed its channel (it died),
        "late" when the deadline passed first."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return "late"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return "ended"
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    # ------------------------------------------------------------------ samples
    def run(
        self,
        entry: Any,
        indices: list[int] | None = None,
        eager: bool = True,
        again: int = 1,
        clip: bool = False,
    ) -> Iterator[Any]:
        """Outcomes of the entry's samples (all of them, or ``indices``; with ``clip``,
        those of ``indices`` the entry has), each run ``again`` times in a row (JAX's
        caches cleared between: crash hunting)."""
        from . import _harness as H

        pending = None if indices is None else list(indices)
        while pending is None or pending:
            if self.proc is None:
                self._start()
            request = {"entry": entry.id, "indices": pending, "eager": eager, "again": again}
            self._send({**request, "clip": clip})
            current: dict | None = None
            # Until the first sample starts: the child's imports and the sample generation.
            deadline = time.monotonic() + max(self.timeout, STARTUP)
            while True:
                msg = self._receive(deadline)
                if isinstance(msg, str):
                    break
                if "error" in msg:
                    raise WorkerError(msg["error"])
                if "count" in msg:
                    n = msg["count"]
                    pending = list(range(n)) if pending is None else [i for i in pending if i < n]
                elif "start" in msg:
                    current = msg
                    deadline = time.monotonic() + self.timeout
                elif "outcome" in msg:
                    o = msg["outcome"]
                    k = o.pop("exclusion")
                    yield H.Outcome(entry, exclusion=None if k is None else H.EXCLUSIONS[k], **o)
                    if msg["last"]:
                        pending.remove(o["index"])
                elif "done" in msg:
                    return
            # The child ended (reap it: it may still be writing its traceback), or a
            # sample ran past the timeout (kill it).
            timed_out = msg == "late"
            rc = self._stop(kill=timed_out)
            if current is None:
                raise WorkerError(
                    f"the conformance worker ended ({_describe_rc(rc)}) before running a "
                    f"sample of {entry.id}:\n{self._tail()}"
                )
            status = "timeout" if timed_out else "crashed"
            what = (
                f"ran past {self.timeout:.0f} s and was killed"
                if timed_out
                else f"ended the process running it ({_describe_rc(rc)})"
            )
            yield H.Outcome(
                entry,
                current["start"],
                status,
                current["desc"],
                f"the sample {what} (repetition {current['rep']}); the worker's last "
                f"output:\n{self._tail()}",
                seconds=time.monotonic() - (deadline - self.timeout),
            )
            pending = pending[pending.index(current["start"]) + 1 :]


def _describe_rc(rc: int | None) -> str:
    if rc is not None and rc < 0:
        try:
            return f"signal {-rc}, {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit status {rc}"


# ---------------------------------------------------------------------- the child
def _serve() -> None:
    import faulthandler
    import importlib

    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    faulthandler.enable(file=sys.stderr, all_threads=True)

    sys.path.insert(0, str(ROOT))
    importlib.import_module("conftest")  # the suite's JAX configuration and XLA flags
    import jax
    import numpy as np
    import torch

    import jaxnn
    from tests.conformance import _harness as H

    def send(msg: dict) -> None:
        channel.write(json.dumps(msg) + "\n")

    crash_at, hang_at = os.environ.get(CRASH_ENV), os.environ.get(HANG_ENV)
    exclusion_index = {id(e): k for k, e in enumerate(H.EXCLUSIONS)}
    for line in sys.stdin:
        req = json.loads(line)
        entry = H.entry(req["entry"])
        indices = req["indices"]
        got = H.samples(entry, None if indices is None else max(indices, default=-1) + 1)
        if indices is not None and req["clip"]:
            indices = [i for i in indices if i < len(got)]
        if indices is not None and any(not 0 <= i < len(got) for i in indices):
            send({"error": f"{entry.id} has {len(got)} samples; asked for {indices}"})
            continue
        send({"count": len(got)})
        for i in range(len(got)) if indices is None else indices:
            for rep in range(req["again"]):
                send({"start": i, "rep": rep, "desc": H.describe(entry, got[i])})
                if rep:
                    jax.clear_caches()  # compile again: the crashes seen so far were in XLA
                if crash_at == f"{entry.id}[{i}]":
                    os.kill(os.getpid(), signal.SIGSEGV)
                if hang_at == f"{entry.id}[{i}]":
                    time.sleep(1e6)
                # What the suite's autouse fixture does before each test.
                jaxnn.manual_seed(0)
                torch.manual_seed(0)
                np.random.seed(0)
                o = H.run_sample(entry, i, got[i], eager=req["eager"])
                outcome = {
                    "index": o.index,
                    "status": o.status,
                    "desc": o.desc,
                    "message": o.message,
                    "exclusion": None if o.exclusion is None else exclusion_index[id(o.exclusion)],
                    "seconds": o.seconds,
                }
                send({"outcome": outcome, "last": rep == req["again"] - 1})
        send({"done": True})


if __name__ == "__main__":
    _serve()
