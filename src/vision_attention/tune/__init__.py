"""Hyperparameter search for attention networks, with Optuna (PyTorch task).

* :mod:`vision_attention.tune.task`: the search task, a small CBAM-ResNet on real digits
  pasted onto real textures (:func:`train_trial`, about two seconds per trial on one thread);
* :mod:`vision_attention.tune.search`: the practical guide's search space, Optuna's samplers
  and pruner, shared storage and several workers (:func:`run_study`), the whole grid as a
  replay table and the comparison of samplers on it;
* ``python -m vision_attention.tune --help``: the same search from the command line.

Importing this package imports neither Optuna nor a framework; they are imported when used.
"""

from .search import (
    GUIDE_POSITION_NAMES, SAMPLERS, SEARCH_SPACE, STRATEGIES, ReplayObjective, TrainObjective,
    compare_samplers, grid_table, make_pruner, make_sampler, open_storage, random_then_grid,
    run_study, study_table, suggest_config,
)
from .task import TrialResult, load_task_data, train_trial

__all__ = [
    "GUIDE_POSITION_NAMES", "SAMPLERS", "SEARCH_SPACE", "STRATEGIES", "ReplayObjective",
    "TrainObjective", "TrialResult", "compare_samplers", "grid_table", "load_task_data",
    "make_pruner", "make_sampler", "open_storage", "plot_study", "random_then_grid", "run_study",
    "study_table", "suggest_config", "train_trial",
]


def plot_study(study, seed: int = 0):
    """Optuna's own matplotlib plots of ``study``: optimisation history and parameter importances.

    Returns ``(ax_history, ax_importances)``, each on its own figure, as
    :mod:`optuna.visualization.matplotlib` draws them. Importances are fANOVA's
    (:class:`optuna.importance.FanovaImportanceEvaluator`, seeded with ``seed``: a random
    forest fitted on the completed trials), so they are reproducible for a given study.
    """
    import warnings

    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    with warnings.catch_warnings():  # "plot_* is experimental": Optuna's label, not a problem
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna_plots.plot_optimization_history(study)
        importances = optuna_plots.plot_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    for ax in (history, importances):
        ax.figure.set_size_inches(6.4, 3.4)
    return history, importances
