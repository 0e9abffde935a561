"""torch's reference computed on its DEFAULT (scalar) CPU kernels, in a child process.

torch picks its CPU kernels by the machine's vector ISA (``ATEN_CPU_CAPABILITY``:
``default``, ``avx2``, ``avx512``; the fastest the CPU has, unless the variable says
otherwise), and on non-finite inputs the vectorised kernels do not always agree with each
other or with the maths: torch 2.13's AVX-512 ``gelu`` returns NaN for +-inf (for tensors
of two or more elements) where the AVX2 and DEFAULT kernels return +-inf. A test that
compared jaxnn with whichever kernel the local CPU selected would pass on one machine
and fail on the next.

The DEFAULT kernels apply the scalar C++ function to each element: the same code on
every x86 and ARM machine, and the one torch itself falls back to for a 1-element
tensor. This module runs those kernels in a child process (the capability is fixed
when torch loads, so it cannot change inside the test process) and answers calls by
name: ``call("pkg.module:function", *args)`` imports the function in the child, calls it
there and returns its pickled result. One child per test process, started on first use.

Run as ``python -m tests._torch_scalar`` it is that child.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_lock = threading.Lock()
_child: subprocess.Popen | None = None


def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: Any) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the torch DEFAULT-kernel child process ended")
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _start() -> subprocess.Popen:
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests._torch_scalar"],
        cwd=_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    atexit.register(_stop, child)
    return child


def _stop(child: subprocess.Popen) -> None:
    # End of input is the child's signal to exit; kill only a child that hangs.
    child.stdin.close()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    child.stdout.close()


def call(target: str, *args: Any) -> Any:
    """``module:function(*args)`` evaluated in the DEFAULT-kernel child; its result.

    An exception raised there is raised here as a RuntimeError carrying the child's
    traceback.
    """
    global _child
    with _lock:
        if _child is None or _child.poll() is not None:
            _child = _start()
        _send(_child.stdin, (target, args))
        ok, value = _receive(_child.stdout)
    if not ok:
        raise RuntimeError(f"{target} failed in the torch DEFAULT-kernel process:\n{value}")
    return value


def _serve() -> None:
    import traceback

    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a callee prints must not corrupt the replies
    if capability != "DEFAULT":
        message = f"ATEN_CPU_CAPABILITY=default was ignored: torch selected {capability}"
        while True:
            try:
                _receive(requests)
            except EOFError:
                return
            _send(replies, (False, message))
    while True:
        try:
            target, args = _receive(requests)
        except EOFError:
            return
        try:
            module, _, name = target.partition(":")
            fn: Any = importlib.import_module(module)
            for part in name.split("."):
                fn = getattr(fn, part)
            _send(replies, (True, fn(*args)))
        except Exception:
            _send(replies, (False, traceback.format_exc()))


if __name__ == "__main__":
    _serve()
