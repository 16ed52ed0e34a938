#!/usr/bin/env python3
"""The peer for the lease benchmark: Optuna with SQLite storage, P processes each
running trivial trials (objective returns at once) against one study, as Optuna's
own docs set up distributed optimisation. Prints trials per second.

    .venv/bin/pip install optuna
    .venv/bin/python scripts/bench/optuna_peer.py --procs 2 --trials 200
"""
import argparse
import multiprocessing as mp
import os
import tempfile
import time

import optuna


def cpu_model() -> str:
    """The CPU's model name: figures from different CPUs are not comparable."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def work(storage: str, n: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--trials", type=int, default=200, help="per process")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        storage = f"sqlite:///{d}/optuna.db"
        optuna.create_study(study_name="bench", storage=storage)
        procs = [mp.Process(target=work, args=(storage, args.trials)) for _ in range(args.procs)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        dt = time.perf_counter() - t0
    total = args.procs * args.trials
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores")
    print(f"optuna {optuna.__version__}, sqlite, {args.procs} processes: {total} trials in {dt:.2f} s = {total / dt:.1f} trials/s")


if __name__ == "__main__":
    main()
