"""Run torch's whole sample database against jaxnn in subprocesses.

    python -m tests.conformance.run --out /tmp/conformance [--jobs 2] [--only SUBSTR ...]
                                    [--repeat N] [--timeout 900]

``pytest tests/conformance --long`` runs the same samples in-process; this runner is for
what pytest cannot report: a sample that kills the process (a segfault in XLA or torch)
or hangs. Each child process runs a chunk of entries and announces every sample before
running it; when a child dies, the sample it was running is recorded as ``crashed``
(with the signal and the child's faulthandler traceback) and a new child resumes at the
next sample. A sample running longer than ``--timeout`` seconds is killed and recorded
as ``timeout``. ``--repeat N`` runs the selection N times (crash hunting).

Writes ``results-*.jsonl`` (one line per sample and repetition) and ``summary.md`` into
``--out``, and prints the summary.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _child(
    entries: list[str],
    start: int,
    progress: Path,
    results: Path,
    rep: int,
    again: int,
    indices: set[int] | None,
) -> None:
    import faulthandler

    sys.path.insert(0, str(ROOT))
    importlib.import_module("conftest")  # the suite's JAX configuration and XLA flags
    import jax

    import jaxnn
    from tests.conformance import _harness as H

    faulthandler.enable(file=sys.stderr, all_threads=True)
    by_id = {e.id: e for e in H.all_entries()}
    with progress.open("a") as prog, results.open("a") as res:
        for n, entry_id in enumerate(entries):
            entry = by_id[entry_id]
            first = start if n == 0 else 0

            def announce(e, i):
                prog.write(json.dumps({"entry": e.id, "index": i, "t": time.time()}) + "\n")
                prog.flush()

            samples = H.samples(entry)
            for i in range(first, len(samples)):
                if indices is not None and i not in indices:
                    continue
                for k in range(again):
                    announce(entry, i)
                    if k:
                        jax.clear_caches()  # compile again: crashes seen so far were in XLA
                    jaxnn.manual_seed(0)
                    o = H.run_sample(entry, i, samples[i])
                    line = {
                        "entry": entry.id,
                        "index": i,
                        "rep": rep * again + k,
                        "status": o.status,
                        "desc": o.desc,
                        "message": o.message,
                        "exclusion": o.exclusion.label if o.exclusion else None,
                        "seconds": round(o.seconds, 3),
                    }
                    res.write(json.dumps(line) + "\n")
                    res.flush()
            prog.write(json.dumps({"entry": entry.id, "done": True}) + "\n")
            prog.flush()


class _Chunk:
    def __init__(self, entries: list[str], rep: int) -> None:
        self.entries = list(entries)
        self.start = 0
        self.rep = rep


def _launch(chunk: _Chunk, out: Path, slot: int, args: argparse.Namespace) -> tuple:
    progress = out / f"progress-{slot}.jsonl"
    progress.write_text("")
    log = (out / f"child-{slot}.log").open("a")
    cmd = [
        sys.executable,
        "-m",
        "tests.conformance.run",
        "--child",
        "--out",
        str(out),
        "--slot",
        str(slot),
        "--rep",
        str(chunk.rep),
        "--start",
        str(chunk.start),
        "--entries",
        ",".join(chunk.entries),
        "--again",
        str(args.again),
        "--indices",
        args.indices,
    ]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    log.write(f"\n=== {time.ctime()} {' '.join(cmd[:12])} ... ({len(chunk.entries)} entries)\n")
    log.flush()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return proc, progress, log


def _last_started(progress: Path) -> dict | None:
    last = None
    for line in progress.read_text().splitlines():
        rec = json.loads(line)
        if "index" in rec:
            last = rec
        elif rec.get("done") and last and last["entry"] == rec["entry"]:
            last = None
    return last


def _tail(path: Path, n: int = 40) -> str:
    """The end of the child's log since its launch, without faulthandler's module list."""
    text = path.read_text(errors="replace").rsplit("\n=== ", 1)[-1]
    lines = [ln for ln in text.splitlines()[1:] if not ln.startswith("Extension modules:")]
    return "\n".join(lines[-n:])


def _parent(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.conformance import _harness as H

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results-parent.jsonl"
    # float32 first (what most users run), then the 64-bit and complex entries.
    entries = [e.id for e in sorted(H.all_entries(), key=lambda e: e.dtype != "float32")]
    if args.only:
        entries = [e for e in entries if any(s in e for s in args.only)]
    if args.resume:
        done = {r["entry"] for r in _records(out)}
        entries = [e for e in entries if e not in done]
    # Chunks of about equal size, heavy entries spread: each child pays ~10 s of imports.
    queue = collections.deque()
    for rep in range(args.repeat):
        for k in range(0, len(entries), args.chunk):
            queue.append(_Chunk(entries[k : k + args.chunk], rep))
    running: dict[int, tuple] = {}
    started = time.time()
    while queue or running:
        for slot in range(args.jobs):
            if slot not in running and queue:
                chunk = queue.popleft()
                running[slot] = (chunk, *_launch(chunk, out, slot, args))
        time.sleep(1.0)
        for slot, (chunk, proc, progress, log) in list(running.items()):
            rc = proc.poll()
            last = _last_started(progress)
            if rc is None:
                if last and time.time() - last["t"] > args.timeout:
                    proc.kill()
                    proc.wait()
                    rc = "timeout"
                else:
                    continue
            log.close()
            del running[slot]
            if rc == 0:
                continue
            if last is None:
                # The child died before its first sample: an import error, most likely,
                # which every child would repeat.
                print(
                    f"a child ended with {rc} before its first sample:\n"
                    + _tail(out / f"child-{slot}.log"),
                    flush=True,
                )
                for _, p, _, lg in running.values():
                    p.kill()
                    lg.close()
                return 1
            # The child died (or was killed) in the middle of a sample: record it, resume
            # at the next sample.
            status = "timeout" if rc == "timeout" else "crashed"
            record = {
                "entry": last["entry"],
                "index": last["index"],
                "rep": chunk.rep,
                "status": status,
                "desc": "",
                "exclusion": None,
                "seconds": round(time.time() - last["t"], 1),
                "message": f"child process ended with {rc} (signal {-rc if isinstance(rc, int) and rc < 0 else '-'})\n"
                + _tail(out / f"child-{slot}.log"),
            }
            with results.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{status}: {last['entry']}[{last['index']}] rep {chunk.rep} ({rc})", flush=True)
            rest = chunk.entries[chunk.entries.index(last["entry"]) :]
            nxt = _Chunk(rest, chunk.rep)
            nxt.start = last["index"] + 1
            queue.appendleft(nxt)
    print(summarise(out, time.time() - started))
    return 0


def _records(out: Path) -> list[dict]:
    return [
        json.loads(ln)
        for path in sorted(out.glob("results-*.jsonl"))
        for ln in path.read_text().splitlines()
        if ln.strip()
    ]


def summarise(out: Path, seconds: float | None = None) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.conformance import _harness as H

    records = _records(out)
    counts = collections.Counter(r["status"] for r in records)
    by_kind: dict = collections.defaultdict(collections.Counter)
    for r in records:
        by_kind[
            "functional"
            if r["entry"].startswith(("F.", "softmax", "log_softmax", "tanh", "sigmoid"))
            else "modules"
        ][r["status"]] += 1
    lines = ["# Conformance run", ""]
    if seconds is not None:
        lines.append(f"Wall time: {seconds / 60:.1f} min")
    cpu = sum(r["seconds"] for r in records)
    lines.append(f"Sum of per-sample times: {cpu / 60:.1f} min; {len(records)} samples")
    lines.append("")
    lines.append("| | " + " | ".join(sorted(counts)) + " |")
    lines.append("|---|" + "---|" * len(counts))
    for kind in sorted(by_kind):
        lines.append(
            f"| {kind} | " + " | ".join(str(by_kind[kind][s]) for s in sorted(counts)) + " |"
        )
    lines.append("| total | " + " | ".join(str(counts[s]) for s in sorted(counts)) + " |")
    absent = collections.Counter(r["message"] for r in records if r["status"] == "absent")
    if absent:
        lines += ["", "## Absent in jaxnn", ""]
        lines += [
            f"- {m.replace('jaxnn has no ', '')}: {n} samples" for m, n in sorted(absent.items())
        ]
    # Exclusions no sample used (only meaningful for a full run).
    seen = {r["entry"] for r in records}
    used = {r["exclusion"] for r in records if r["status"] in ("excluded", "passed_tol")}
    stale = [
        e.label
        for e in H.EXCLUSIONS
        if any(e.scopes(x) for x in H.all_entries() if x.id in seen) and e.label not in used
    ]
    if stale:
        lines += ["", "## Exclusions no sample used", ""] + [f"- {s}" for s in stale]
    for status in ("crashed", "timeout", "failed"):
        bad = [r for r in records if r["status"] == status]
        if bad:
            lines += ["", f"## {status} ({len(bad)})", ""]
            for r in bad:
                msg = r["message"].strip().replace("\n", "\n    ")
                lines.append(
                    f"- `{r['entry']}[{r['index']}]` (rep {r['rep']}) {r['desc']}\n    {msg}"
                )
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", required=True)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--chunk", type=int, default=25, help="entries per child process")
    p.add_argument("--only", nargs="*", help="entry ids containing any of these")
    p.add_argument("--repeat", type=int, default=1, help="run the selection N times")
    p.add_argument(
        "--again",
        type=int,
        default=1,
        help="run each sample K times in a row in the same process, JAX's caches cleared",
    )
    p.add_argument("--indices", default="", help="only these sample indices: 3,61")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one sample may take")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--resume", action="store_true", help="skip entries already in results.jsonl")
    p.add_argument("--summary", action="store_true", help="only rewrite summary.md")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--slot", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--entries", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.summary:
        print(summarise(Path(args.out)))
        return 0
    if args.child:
        out = Path(args.out)
        _child(
            args.entries.split(","),
            args.start,
            out / f"progress-{args.slot}.jsonl",
            out / f"results-{args.slot}.jsonl",
            args.rep,
            args.again,
            {int(i) for i in args.indices.split(",")} if args.indices else None,
        )
        return 0
    return _parent(args)


if __name__ == "__main__":
    sys.exit(main())
