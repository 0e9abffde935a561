"""Run torch's whole sample database against jaxnn in worker processes, for a report.

    python -m tests.conformance.run --out /tmp/conformance [--jobs 2] [--only SUBSTR ...]
                                    [--ids FILE] [--indices 3,61] [--repeat N] [--again K]
                                    [--timeout S] [--resume]

``pytest tests/conformance --long`` runs the same samples, in the same kind of worker
process (``_worker.py``: a sample that kills the process is reported ``crashed`` with the
signal and the worker's faulthandler traceback, and the entry resumes at the next sample
in a new worker; a sample running past ``--timeout`` seconds is killed and reported
``timeout``). This runner adds what a crash hunt and a report need: ``--jobs`` workers in
parallel, ``--repeat N`` runs of the selection, ``--again K`` runs of each sample in a
row in the same process (JAX's caches cleared between), and a file of results.

Writes ``results-*.jsonl`` (one line per sample and repetition), ``worker-*.log`` (the
workers' stderr) and ``summary.md`` into ``--out``, and prints the summary.
"""

from __future__ import annotations

import argparse
import collections
import json
import queue
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _parent(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.conformance import _harness as H
    from tests.conformance._worker import Worker, WorkerError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # float32 first (what most users run), then the 64-bit and complex entries.
    entries = sorted(H.all_entries(), key=lambda e: e.dtype != "float32")
    if args.only:
        entries = [e for e in entries if any(s in e.id for s in args.only)]
    if args.ids:
        wanted = set(Path(args.ids).read_text().split())
        entries = [e for e in entries if e.id in wanted]
    if args.resume:
        # Entries a run completed are skipped; the samples of one it was stopped in are
        # dropped from the results and run again.
        done = set(_done(out))
        for path in out.glob("results-*.jsonl"):
            keep = [ln for ln in path.read_text().splitlines() if json.loads(ln)["entry"] in done]
            path.write_text("".join(ln + "\n" for ln in keep))
        entries = [e for e in entries if e.id not in done]
    indices = [int(i) for i in args.indices.split(",")] if args.indices else None
    work = queue.Queue()
    for rep in range(args.repeat):
        for e in entries:
            work.put((rep, e))
    lock = threading.Lock()
    fatal: list[str] = []

    def job(slot: int) -> None:
        worker = Worker(timeout=args.timeout, nice=args.nice, log=out / f"worker-{slot}.log")
        results = (out / f"results-{slot}.jsonl").open("a")
        try:
            while not fatal:
                try:
                    rep, entry = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    for o in worker.run(entry, indices, again=args.again, clip=True):
                        line = {
                            "entry": entry.id,
                            "index": o.index,
                            "rep": rep,
                            "status": o.status,
                            "desc": o.desc,
                            "message": o.message,
                            "exclusion": o.exclusion.label if o.exclusion else None,
                            "seconds": round(o.seconds, 3),
                        }
                        with lock:
                            results.write(json.dumps(line) + "\n")
                            results.flush()
                            if o.status in ("crashed", "timeout"):
                                print(f"{o.status}: {o.key} rep {rep}", flush=True)
                except WorkerError as e:
                    # Every worker would repeat it (an import error, most likely).
                    fatal.append(str(e))
                    return
                with lock:
                    with (out / "done.txt").open("a") as f:
                        f.write(entry.id + "\n")
        finally:
            worker.close()
            results.close()

    started = time.time()
    threads = [threading.Thread(target=job, args=(slot,)) for slot in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if fatal:
        print(fatal[0], flush=True)
        return 1
    print(summarise(out, time.time() - started))
    return 0


def _done(out: Path) -> list[str]:
    path = out / "done.txt"
    return path.read_text().split() if path.exists() else []


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
    kinds = {e.id: "op_db" if e.kind == "F" else "module_db" for e in H.all_entries()}
    by_kind: dict = collections.defaultdict(collections.Counter)
    for r in records:
        by_kind[kinds[r["entry"]]][r["status"]] += 1
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
    p.add_argument("--out")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", nargs="*", help="entry ids containing any of these")
    p.add_argument("--repeat", type=int, default=1, help="run the selection N times")
    p.add_argument(
        "--again",
        type=int,
        default=1,
        help="run each sample K times in a row in the same process, JAX's caches cleared",
    )
    p.add_argument("--ids", help="a file of entry ids (one a line): only these entries")
    p.add_argument("--indices", default="", help="only these sample indices: 3,61")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one sample may take")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--resume", action="store_true", help="skip the entries --out has complete")
    p.add_argument("--summary", action="store_true", help="only rewrite summary.md")
    p.add_argument(
        "--exclusions", action="store_true", help="print the exclusions as docs' markdown table"
    )
    args = p.parse_args()
    if args.exclusions:
        sys.path.insert(0, str(ROOT))
        from tests.conformance._exclusions import markdown

        print(markdown(), end="")
        return 0
    if not args.out:
        p.error("--out is required")
    if args.summary:
        print(summarise(Path(args.out)))
        return 0
    return _parent(args)


if __name__ == "__main__":
    sys.exit(main())
