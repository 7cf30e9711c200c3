"""Hyperparameter search with Optuna: samplers, pruning, shared storage, several workers.

Everything here is Optuna's own machinery (Akiba et al., KDD 2019); the package only fixes the
search space of the practical guide and the task (:mod:`vision_attention.tune.task`).

**Scaling past one machine.** An Optuna study lives in its *storage*; any number of worker
processes, on any number of machines, join it with the same storage URL and study name, and
each asks the sampler for its next trial from the trials already stored. :func:`run_study`
starts ``workers`` processes on this machine; on many machines, run the same command line on
each with a database every machine can reach::

    python -m vision_attention.tune --storage sqlite:///study.db --study-name practice --workers 2
    python -m vision_attention.tune --storage postgresql://user:password@db-host/optuna --study-name practice

(the second line is the one-line change: a PostgreSQL or MySQL URL instead of an SQLite file,
which only processes of one machine may share). Each worker's sampler gets the seed
``seed + rank``: with one seed, workers would propose the same trials. Several workers are not
reproducible from run to run (which worker finishes first changes what the sampler sees);
one worker with an in-memory study is.

**Storage strings** (:func:`open_storage`): ``None`` (in memory, one worker only); a path
ending in ``.log`` or a ``journal:`` prefix (Optuna's journal file, safe for processes of one
machine, no database needed); any SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``,
``mysql://...``), opened with :class:`optuna.storages.RDBStorage` (SQLite with a 60 s lock
timeout, so that two workers writing at once wait instead of failing).

**Comparing samplers fairly and cheaply** (:func:`grid_table`, :class:`ReplayObjective`,
:func:`compare_samplers`): the search space has only 48 configurations, and a trial is
deterministic for a fixed seed, so training all of them once gives the whole landscape; a
sampler then runs against a lookup of that table (reporting the stored per-epoch values, so
that pruning acts as it would), and a replayed trial returns exactly what retraining would.
This is how tabular benchmarks of hyperparameter optimisation work (e.g. NAS-Bench-101).
"""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np

from .._checks import _is_int, check_choice, check_positive_int
from ..architectures import POSITIONS
from . import task

__all__ = [
    "SEARCH_SPACE", "SAMPLERS", "STRATEGIES", "GUIDE_POSITION_NAMES", "make_sampler", "make_pruner",
    "open_storage", "suggest_config", "TrainObjective", "ReplayObjective", "run_study", "study_table",
    "grid_table", "compare_samplers", "random_then_grid",
]

SEARCH_SPACE = {"reduction_ratio": [4, 8, 16, 32], "position": list(POSITIONS), "kernel_size": [3, 5, 7]}
"""The practical guide's space: ``r`` in {4, 8, 16, 32}, the module's position, ``k`` in {3, 5, 7}
(48 configurations)."""

GUIDE_POSITION_NAMES = {"before": "pre", "after": "post", "both": None}
"""The guide's Optuna example suggests positions ``'before'``, ``'after'`` and ``'both'``; the
first two are SENet's ``pre`` and ``post``; ``'both'`` (two modules per unit) is not one of the
paper's strategies and is not offered."""

SAMPLERS = ("tpe", "random", "grid")
STRATEGIES = SAMPLERS + ("random+grid",)
"""What :func:`compare_samplers` runs: Optuna's three samplers, and the guide's advice "random
search first, then a fine grid" (:func:`random_then_grid`)."""


def make_sampler(name: str, seed: int):
    """Optuna's sampler ``name`` (``"tpe"``, ``"random"`` or ``"grid"``), seeded with ``seed``.

    TPE is Bergstra et al. (NeurIPS 2011), :class:`optuna.samplers.TPESampler`; random search
    is :class:`optuna.samplers.RandomSampler` (Bergstra and Bengio, JMLR 2012); the grid sampler
    visits :data:`SEARCH_SPACE` in a seeded random order.
    """
    import optuna

    check_choice("make_sampler", "name", name, SAMPLERS)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"make_sampler: argument 'seed' expected a non-negative integer, got {seed!r}")
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=int(seed))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=int(seed))
    return optuna.samplers.GridSampler(SEARCH_SPACE, seed=int(seed))


def make_pruner(enabled: bool = True):
    """The studies' pruner: median pruning after 4 complete trials, from the second epoch on.

    A trial is stopped when its validation accuracy after an epoch is below the median of the
    earlier trials' at the same epoch. The first epoch is never judged (every configuration is
    near chance after one epoch); ``enabled=False`` gives :class:`optuna.pruners.NopPruner`.
    """
    import optuna

    if not enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)


def open_storage(storage):
    """An Optuna storage for ``storage`` (see the module docstring), or ``None`` for in memory."""
    import optuna

    if storage is None:
        return None
    if not isinstance(storage, (str, os.PathLike)) or not str(storage):
        raise ValueError(f"open_storage: argument 'storage' expected None, a journal file path or a "
                         f"database URL, got {storage!r}")
    text = os.fspath(storage)
    if text.startswith("journal:") or text.endswith(".log"):
        path = text[len("journal:"):] if text.startswith("journal:") else text
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    if "://" not in text:
        raise ValueError(f"open_storage: argument 'storage' expected a path ending in '.log', a "
                         f"'journal:' prefix or a database URL such as 'sqlite:///study.db', got {text!r}")
    kwargs = {"engine_kwargs": {"connect_args": {"timeout": 60}}} if text.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(text, **kwargs)


def suggest_config(trial) -> dict:
    """Ask ``trial`` for one configuration of :data:`SEARCH_SPACE` (categorical parameters)."""
    return {name: trial.suggest_categorical(name, values) for name, values in SEARCH_SPACE.items()}


def _pruning_hook(trial):
    import optuna

    def report(epoch: int, value: float) -> None:
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return report


class TrainObjective:
    """Objective that trains :func:`~vision_attention.tune.task.train_trial` (validation
    accuracy, to maximise), reporting every epoch for pruning. Picklable, for worker processes.

    ``kwargs`` go to ``train_trial`` (``epochs``, ``seed``...).
    """

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __call__(self, trial) -> float:
        result = task.train_trial(suggest_config(trial), report=_pruning_hook(trial), **self.kwargs)
        trial.set_user_attr("seconds", result.seconds)
        return result.accuracy


def _key(config: dict) -> tuple:
    return tuple(config[name] for name in SEARCH_SPACE)


class ReplayObjective:
    """Objective that looks a configuration up in :func:`grid_table`'s table instead of training.

    It reports the stored accuracy of every epoch (so a pruner stops a trial where it would
    have stopped the real one) and returns the last. Because training is deterministic for a
    fixed seed, this is what retraining the configuration would return.
    """

    def __init__(self, table):
        missing = (set(SEARCH_SPACE) | {"curve"}) - set(table.columns)
        if missing:
            raise ValueError(f"ReplayObjective: argument 'table' lacks the columns {sorted(missing)}")
        self.curves = {_key(row): list(row["curve"]) for _, row in table.iterrows()}

    def __call__(self, trial) -> float:
        curve = self.curves[_key(suggest_config(trial))]
        report = _pruning_hook(trial)
        for epoch, value in enumerate(curve):
            report(epoch, value)
        return curve[-1]


def _check_run(owner: str, sampler, n_trials, seed, storage, workers) -> tuple:
    check_choice(owner, "sampler", sampler, SAMPLERS)
    n_trials = check_positive_int(owner, "n_trials", n_trials)
    workers = check_positive_int(owner, "workers", workers)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"{owner}: argument 'seed' expected a non-negative integer, got {seed!r}")
    if workers > 1 and storage is None:
        raise ValueError(f"{owner}: argument 'workers'={workers} needs a shared 'storage' (a journal "
                         "file such as 'study.log' or a database URL); an in-memory study is one process's")
    if workers > n_trials:
        raise ValueError(f"{owner}: argument 'workers'={workers} is more than n_trials={n_trials}")
    return n_trials, workers


def _worker(storage, study_name, sampler, seed, rank, n_trials, objective, prune, threads) -> None:
    """One worker process: join the study and run its share of the trials."""
    import optuna

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage),
                              sampler=make_sampler(sampler, seed + rank), pruner=make_pruner(prune))
    study.optimize(objective, n_trials=n_trials)


def run_study(sampler: str = "tpe", n_trials: int = 16, seed: int = 0, *, storage=None,
              study_name: str = "practice", workers: int = 1, objective=None, prune: bool = True,
              progress: bool = False, threads: int | None = 1):
    """Run (or continue) an Optuna study of :data:`SEARCH_SPACE`, maximising validation accuracy.

    Args:
        sampler: ``"tpe"``, ``"random"`` or ``"grid"`` (:func:`make_sampler`).
        n_trials: trials to run in this call, over all workers (each worker runs its share).
        seed: the sampler's seed; worker ``rank`` uses ``seed + rank``.
        storage: ``None`` (in memory), a journal file or a database URL (:func:`open_storage`).
            An existing study of that name is continued (``load_if_exists``).
        study_name: the study's name in the storage.
        workers: processes to run (``> 1`` needs ``storage``); they are started with the
            ``spawn`` method, and each gets one PyTorch thread by default.
        objective: callable(trial) -> float; default :class:`TrainObjective` ().
        prune: use :func:`make_pruner` (else no pruning).
        progress: show a progress bar (tqdm) over the trials.
        threads: PyTorch threads per worker (``None``: leave as is).

    Returns:
        ``(study, seconds)``: the :class:`optuna.Study` (loaded from ``storage`` when given) and
        the wall time of the call (a timing).

    Raises:
        ValueError: a bad argument (named), before any trial runs.
    """
    import optuna

    owner = "run_study"
    n_trials, workers = _check_run(owner, sampler, n_trials, seed, storage, workers)
    objective = TrainObjective() if objective is None else objective
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=open_storage(storage), direction="maximize",
                                sampler=make_sampler(sampler, seed), pruner=make_pruner(prune),
                                load_if_exists=True)
    done_before = len(study.trials)
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_trials, desc=f"{sampler} study '{study_name}'", unit="trial")
    if workers == 1:
        callbacks = [lambda study, trial: bar.update(1)] if bar is not None else []
        if threads is not None:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
        try:
            study.optimize(objective, n_trials=n_trials, callbacks=callbacks)
        finally:
            if threads is not None:
                torch.set_num_threads(previous)
    else:
        shares = [n_trials // workers + (rank < n_trials % workers) for rank in range(workers)]
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_worker, args=(storage, study_name, sampler, seed, rank, share,
                                                           objective, prune, threads))
                     for rank, share in enumerate(shares)]
        for process in processes:
            process.start()
        while any(p.is_alive() for p in processes):
            time.sleep(0.5)
            if bar is not None:
                bar.n = min(n_trials, len(study.get_trials(deepcopy=False)) - done_before)
                bar.refresh()
        for process in processes:
            process.join()
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"run_study: {len(failed)} worker(s) failed (exit codes {failed}); "
                               "their errors are printed above")
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage),
                                  sampler=make_sampler(sampler, seed))
    if bar is not None:
        bar.n = n_trials
        bar.close()
    return study, time.perf_counter() - start


def study_table(study):
    """A study's trials as a tidy :class:`pandas.DataFrame`: number, the three parameters, state,
    value, the per-epoch ``curve`` (reported values), ``seconds`` (a timing)."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        curve = [t.intermediate_values[k] for k in sorted(t.intermediate_values)]
        duration = t.duration.total_seconds() if t.duration is not None else np.nan
        rows.append({"number": t.number, **{k: t.params.get(k) for k in SEARCH_SPACE},
                     "state": t.state.name, "value": t.value, "curve": curve, "seconds": duration})
    return pd.DataFrame(rows)


def grid_table(storage, *, study_name: str = "grid", workers: int = 2, seed: int = 0,
               progress: bool = False, objective=None, **train_kwargs):
    """Train all 48 configurations once (each enqueued in the study, no pruning, ``workers``
    processes sharing ``storage``) and return ``(table, seconds)``: :func:`study_table` of the
    complete trials, one row per configuration. A study of that name already in ``storage`` is
    continued: configurations it holds are not trained again. ``objective`` replaces the
    training (:class:`TrainObjective` with ``train_kwargs``), e.g. for tests."""
    import itertools

    import optuna

    configs = [dict(zip(SEARCH_SPACE, values)) for values in itertools.product(*SEARCH_SPACE.values())]
    # Every configuration is enqueued once: the storage hands each waiting trial to exactly one
    # worker. (Optuna's GridSampler in several processes can draw the same grid point twice.)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    queue = optuna.create_study(study_name=study_name, storage=open_storage(storage), direction="maximize",
                                load_if_exists=True)
    done = {_key(t.params) for t in queue.get_trials(deepcopy=False) if t.state.name != "FAIL"}
    for config in configs:
        if _key(config) not in done:
            queue.enqueue_trial(config)
    n = len(configs)
    study, seconds = run_study("random", n - len(done) or 1, seed, storage=storage, study_name=study_name,
                               workers=workers, objective=objective or TrainObjective(**train_kwargs),
                               prune=False, progress=progress, threads=1 if objective is None else None)
    table = study_table(study)
    table = table[table["state"] == "COMPLETE"].drop_duplicates(subset=list(SEARCH_SPACE))
    if len(table) != n:
        raise RuntimeError(f"grid_table: {len(table)} of {n} configurations completed")
    return table.reset_index(drop=True), seconds


def random_then_grid(table, n_trials: int, seed: int) -> list[float]:
    """The guide's "random search first, then a fine grid", on the replay table.

    The first half of the budget samples configurations at random; the second half walks, in a
    seeded order, the grid of the configurations that share the best random trial's position
    (its 12 values of ``r`` and ``k``), skipping those already tried. Returns the value of each
    trial in order (no pruning, as a hand-run grid would have none).
    """
    rng = np.random.default_rng(seed)
    curves = ReplayObjective(table).curves
    configs = [dict(zip(SEARCH_SPACE, key)) for key in curves]
    values = {key: curve[-1] for key, curve in curves.items()}
    first = [configs[i] for i in rng.choice(len(configs), size=n_trials // 2, replace=True)]
    history = [values[_key(c)] for c in first]
    best = max(first, key=lambda c: values[_key(c)])
    seen = {_key(c) for c in first}
    fine = [c for c in configs if c["position"] == best["position"] and _key(c) not in seen]
    for i in rng.permutation(len(fine))[: n_trials - len(history)]:
        history.append(values[_key(fine[i])])
    while len(history) < n_trials:  # the fine grid is exhausted: nothing new to try
        history.append(history[-1])
    return history


def compare_samplers(table, n_trials: int = 12, seeds=range(10), strategies=STRATEGIES, prune: bool = True):
    """Run every strategy of :data:`STRATEGIES` for each seed against the replay ``table``.

    Returns a tidy :class:`pandas.DataFrame` with one row per (strategy, seed, trial): the
    trial's ``value`` (NaN when pruned), ``best`` so far and ``regret`` = the table's best
    accuracy minus ``best`` (0: the search has found the best configuration).
    """
    import optuna
    import pandas as pd

    n_trials = check_positive_int("compare_samplers", "n_trials", n_trials)
    for s in strategies:
        check_choice("compare_samplers", "strategies", s, STRATEGIES)
    optimum = float(table["value"].max())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for strategy in strategies:
        for seed in seeds:
            if strategy == "random+grid":
                values = random_then_grid(table, n_trials, seed)
            else:
                study, _ = run_study(strategy, n_trials, seed, objective=ReplayObjective(table),
                                     prune=prune, threads=None)
                values = [t.value if t.state.name == "COMPLETE" else np.nan for t in study.trials]
            best = np.fmax.accumulate(np.nan_to_num(values, nan=-np.inf))
            for k, (value, b) in enumerate(zip(values, best), start=1):
                rows.append({"strategy": strategy, "seed": seed, "trial": k, "value": value,
                             "best": b, "regret": optimum - b})
    return pd.DataFrame(rows)
