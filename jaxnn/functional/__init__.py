"""``jaxnn.functional``: torch.nn.functional as pure, jittable JAX functions.

Same names, argument names, defaults and layouts (NCHW) as ``torch.nn.functional``; the
modules in ``jaxnn.modules`` call these and nothing else for their maths. Each family lives
in its own file and lists its public names in ``__all__``.
"""

# INTEGRATION-TEMP: tolerant imports while the families are written in parallel.
import importlib as _importlib

for _name in ("_activation", "_attention", "_conv", "_distance", "_dropout", "_linear", "_loss",
              "_normalization", "_pooling", "_sparse", "_vision"):
    try:
        _mod = _importlib.import_module(f".{_name}", __name__)
    except Exception as _e:  # noqa: BLE001
        print(f"[jaxnn dev] functional.{_name} failed to import: {_e!r}")
        continue
    for _n in getattr(_mod, "__all__", []):
        if hasattr(_mod, _n):
            globals()[_n] = getattr(_mod, _n)
