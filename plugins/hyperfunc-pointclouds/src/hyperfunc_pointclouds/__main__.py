"""``python -m hyperfunc_pointclouds`` (also installed as ``hyperfunc-pointclouds``).

Trains a :class:`~hyperfunc_pointclouds.HyperCloud` on the procedural ``shapes``
task (or on ``--data PATH`` of ``.npy`` point sets), measures the test Chamfer
distance before and after training with :func:`~hyperfunc_pointclouds.evaluate`,
and writes ``results.json``, ``model.pt`` and ``reconstructions.png`` into
``--out``. Run it with ``--help`` for the options; call :func:`main` with a list
of arguments to run it in-process.
"""

from __future__ import annotations

from hyperfunc_pointclouds._command import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
