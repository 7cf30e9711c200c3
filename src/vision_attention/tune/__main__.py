"""``python -m vision_attention.tune``: the practice chapter's hyperparameter search from a shell.

Examples::

    python -m vision_attention.tune --n-trials 16                       # one process, in memory
    python -m vision_attention.tune --n-trials 16 --workers 2 --storage study.log
    python -m vision_attention.tune --n-trials 16 --workers 2 --storage sqlite:///study.db
    # on several machines, the same command on each, with one database for all:
    python -m vision_attention.tune --n-trials 16 --storage postgresql://user:pw@host/optuna
"""

from __future__ import annotations

import argparse
import sys

from .search import SAMPLERS, SEARCH_SPACE, run_study, study_table
from .task import EPOCHS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vision_attention.tune",
        description="Search CBAM's reduction ratio, position and spatial kernel on the practice "
                    "chapter's task (digits pasted on textures) with Optuna.",
        epilog="Workers on several machines: give each the same --storage (a PostgreSQL or MySQL "
               "URL every machine can reach) and --study-name. A journal file ('.log') or an "
               "SQLite URL is shared by the processes of one machine.",
    )
    parser.add_argument("--n-trials", type=int, default=16, help="trials over all workers (default 16)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed; worker k uses seed + k")
    parser.add_argument("--storage", default=None,
                        help="journal file (path ending in .log) or database URL; default: in memory")
    parser.add_argument("--study-name", default="practice", help="study name in the storage")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs per trial (default {EPOCHS})")
    parser.add_argument("--no-prune", action="store_true", help="train every trial to the end")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .search import TrainObjective

    try:
        study, seconds = run_study(args.sampler, args.n_trials, args.seed, storage=args.storage,
                                   study_name=args.study_name, workers=args.workers,
                                   objective=TrainObjective(epochs=args.epochs), prune=not args.no_prune,
                                   progress=True)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = study_table(study)
    complete = table[table["state"] == "COMPLETE"].sort_values("value", ascending=False)
    print(f"{len(table)} trials in the study ({len(complete)} complete, "
          f"{int((table['state'] == 'PRUNED').sum())} pruned); this run took {seconds:.0f} s")
    print(f"best validation accuracy {study.best_value:.3f} with {study.best_params}")
    print(complete[["number", *SEARCH_SPACE, "value"]].head(5).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
