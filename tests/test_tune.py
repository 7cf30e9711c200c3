"""The search task and Optuna search of the practice chapter (vision_attention.tune).

Trainings here are tiny (one epoch on 100 images); the multi-worker runs use a synthetic
replay table, so that no worker trains (what is tested is the storage and the workers).
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vision_attention import tune
from vision_attention.tune import search

DEFAULT = {"reduction_ratio": 16, "position": "standard", "kernel_size": 7}
TINY = {"epochs": 1, "n_train": 100}


def synthetic_table(seed: int = 0) -> pd.DataFrame:
    """All 48 configurations with made-up two-epoch curves (distinct final values)."""
    rng = np.random.default_rng(seed)
    rows = []
    finals = rng.permutation(48) / 100.0
    for final, values in zip(finals, itertools.product(*tune.SEARCH_SPACE.values())):
        rows.append({**dict(zip(tune.SEARCH_SPACE, values)), "curve": [final / 2, final], "value": final})
    return pd.DataFrame(rows)


# --- the task ---------------------------------------------------------------------------

def test_a_trial_is_deterministic_for_a_seed_and_changes_with_it():
    a = tune.train_trial(DEFAULT, seed=0, **TINY)
    b = tune.train_trial(DEFAULT, seed=0, **TINY)
    c = tune.train_trial(DEFAULT, seed=1, **TINY)
    assert a.curve == b.curve and a.train_loss == b.train_loss
    assert a.train_loss != c.train_loss
    assert len(a.train_loss) == 2 and len(a.curve) == 1  # 100 images, batches of 50
    assert 0.0 <= a.accuracy <= 1.0 and a.accuracy == a.curve[-1]


def test_position_places_the_module_and_attention_false_removes_it():
    from torch import nn

    from vision_attention.torch import CBAM

    pre = tune.train_trial({**DEFAULT, "position": "pre", "reduction_ratio": 4}, **TINY).model
    # "pre" gives the first unit's module the stem's 32 channels, the second the first unit's 32
    assert [u.attention.in_channels for u in pre.units] == [32, 32]
    none = tune.train_trial(DEFAULT, attention=False, **TINY).model
    assert not any(isinstance(m, CBAM) for m in none.modules())
    dropout = tune.train_trial(DEFAULT, dropout=0.3, **TINY).model
    assert [type(m) for m in dropout.units[0].attention] == [CBAM, nn.Dropout]


def test_gradient_clipping_bounds_the_norm_the_optimiser_sees(monkeypatch):
    import torch

    norms = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        total = clip(parameters, max_norm, *args, **kwargs)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters]))
        norms.append((float(total), float(after), max_norm))
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    tune.train_trial(DEFAULT, grad_clip=0.05, **TINY)
    assert len(norms) == 2
    assert all(before > 0.05 and after <= 0.05 * (1 + 1e-4) and m == 0.05 for before, after, m in norms)


def test_xavier_initialisation_and_label_smoothing_change_what_they_should():
    import torch

    default = tune.train_trial(DEFAULT, epochs=1, n_train=50, lr=1e-12).model
    xavier = tune.train_trial(DEFAULT, epochs=1, n_train=50, lr=1e-12, init="xavier").model
    fc_default = default.units[1].attention.channel_attention.fc1
    fc_xavier = xavier.units[1].attention.channel_attention.fc1
    bound = np.sqrt(6.0 / (fc_xavier.in_features + fc_xavier.out_features))  # Glorot's uniform bound
    assert float(fc_xavier.weight.detach().abs().max()) <= bound and float(fc_xavier.bias.detach().abs().max()) < 1e-9
    assert float(fc_default.bias.detach().abs().max()) > 1e-3  # PyTorch's default draws the biases
    assert torch.allclose(default.stem[0].weight, xavier.stem[0].weight, atol=1e-8)  # only attention layers
    plain = tune.train_trial(DEFAULT, **TINY).train_loss[0]
    smooth = tune.train_trial(DEFAULT, label_smoothing=0.2, **TINY).train_loss[0]
    assert smooth != plain


def test_the_monitor_records_every_k_steps():
    result = tune.train_trial(DEFAULT, epochs=2, n_train=100, monitor_every=2)
    assert sorted(result.monitor["step"].unique()) == [0, 2]
    assert set(result.monitor["module"]) == {"units.0.attention", "units.1.attention"}
    assert set(result.monitor["key"]) == {"channel", "spatial"}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"config": {"position": "pre"}}, "argument 'config' expected a dict with the keys"),
    ({"config": {**DEFAULT, "position": "before"}}, "argument 'config['position']' expected one of"),
    ({"config": {**DEFAULT, "reduction_ratio": 64}}, "argument 'config['reduction_ratio']' expected at most 32"),
    ({"config": {**DEFAULT, "kernel_size": 4}}, "argument 'config['kernel_size']' expected a positive odd integer"),
    ({"lr": 0.0}, "argument 'lr' expected a number in (0, inf)"),
    ({"dropout": 1.0}, "argument 'dropout' expected a number in [0, 1)"),
    ({"label_smoothing": -0.1}, "argument 'label_smoothing' expected a number in [0, 1)"),
    ({"grad_clip": 0}, "argument 'grad_clip' expected None or a positive number"),
    ({"init": "he"}, "argument 'init' expected one of ('default', 'xavier')"),
    ({"n_train": 1601}, "argument 'n_train' expected at most 1600"),
    ({"seed": -1}, "argument 'seed' expected a non-negative integer"),
    ({"epochs": 0}, "argument 'epochs' expected a positive integer"),
    ({"attention": False, "config": {**DEFAULT, "position": "pre"}}, "argument 'attention'=False leaves no module"),
    ({"report": "print"}, "argument 'report' expected a callable or None"),
    ({"attention_type": "bam"}, "argument 'attention_type' expected one of ('cbam', 'se', 'eca')"),
])
def test_train_trial_rejects_bad_arguments(kwargs, fragment):
    kwargs = {"config": DEFAULT, **kwargs}
    with pytest.raises(ValueError) as error:
        tune.train_trial(**kwargs)
    assert fragment in str(error.value) and "train_trial" in str(error.value)


def test_attention_type_puts_that_module_in_every_unit():
    from vision_attention.torch import ECA, CBAM, SEBlock

    for kind, cls in (("se", SEBlock), ("eca", ECA), ("cbam", CBAM)):
        net = tune.task.SearchNet(attention_type=kind)
        assert [type(u.attention) for u in net.units] == [cls, cls], kind
    assert all(u.attention is None for u in tune.task.SearchNet(attention=False, attention_type="se").units)


# --- the search -------------------------------------------------------------------------

def test_samplers_storage_and_pruner():
    import optuna

    assert isinstance(tune.make_sampler("tpe", 0), optuna.samplers.TPESampler)
    assert isinstance(tune.make_sampler("random", 0), optuna.samplers.RandomSampler)
    assert isinstance(tune.make_sampler("grid", 0), optuna.samplers.GridSampler)
    assert isinstance(tune.make_pruner(False), optuna.pruners.NopPruner)
    with pytest.raises(ValueError, match="argument 'name' expected one of"):
        tune.make_sampler("cmaes", 0)
    with pytest.raises(ValueError, match="argument 'seed' expected a non-negative integer"):
        tune.make_sampler("tpe", -1)
    assert tune.open_storage(None) is None


def test_storage_strings(tmp_path):
    import optuna

    assert isinstance(tune.open_storage(tmp_path / "a.log"), optuna.storages.JournalStorage)
    assert isinstance(tune.open_storage(f"journal:{tmp_path / 'b.journal'}"), optuna.storages.JournalStorage)
    assert isinstance(tune.open_storage(f"sqlite:///{tmp_path / 'c.db'}"), optuna.storages.RDBStorage)
    with pytest.raises(ValueError, match="argument 'storage' expected a path ending in '.log'"):
        tune.open_storage("study.db")
    with pytest.raises(ValueError, match="argument 'storage' expected None, a journal file path"):
        tune.open_storage(3)


def test_run_study_rejects_bad_arguments():
    with pytest.raises(ValueError, match="argument 'workers'=2 needs a shared 'storage'"):
        tune.run_study("tpe", 4, workers=2)
    with pytest.raises(ValueError, match="argument 'workers'=3 is more than n_trials=2"):
        tune.run_study("tpe", 2, storage="x.log", workers=3)
    with pytest.raises(ValueError, match="argument 'sampler' expected one of"):
        tune.run_study("bayes", 2)
    with pytest.raises(ValueError, match="argument 'n_trials' expected a positive integer"):
        tune.run_study("tpe", 0)


def test_replayed_trials_equal_retrained_ones():
    import optuna

    configs = [DEFAULT, {"reduction_ratio": 4, "position": "identity", "kernel_size": 3}]
    results = [tune.train_trial(c, **TINY) for c in configs]
    table = pd.DataFrame([{**c, "curve": r.curve, "value": r.accuracy} for c, r in zip(configs, results)])
    for objective in (tune.ReplayObjective(table), tune.TrainObjective(**TINY)):
        study = optuna.create_study(direction="maximize")
        for c in configs:
            study.enqueue_trial(c)
        study.optimize(objective, n_trials=2)
        assert [t.value for t in study.trials] == [r.accuracy for r in results]
        assert [t.intermediate_values for t in study.trials] == [dict(enumerate(r.curve)) for r in results]


def test_two_workers_share_one_study_in_a_journal_file(tmp_path):
    table = synthetic_table()
    study, _ = tune.run_study("tpe", 6, seed=0, storage=tmp_path / "study.log", workers=2,
                              objective=tune.ReplayObjective(table), threads=None)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(6))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    # the study is continued, not replaced, by a second call with the same name
    again, _ = tune.run_study("tpe", 2, seed=5, storage=tmp_path / "study.log",
                              objective=tune.ReplayObjective(table), threads=None)
    assert len(again.trials) == 8


def test_grid_table_trains_every_configuration_exactly_once_with_two_workers(tmp_path):
    table = synthetic_table(1)
    grid, _ = tune.grid_table(tmp_path / "grid.log", workers=2, objective=tune.ReplayObjective(table))
    assert len(grid) == 48
    merged = grid.merge(table, on=list(tune.SEARCH_SPACE), suffixes=("", "_true"))
    assert np.allclose(merged["value"], merged["value_true"])


def test_compare_samplers_on_a_replay_table():
    table = synthetic_table(2)
    runs = tune.compare_samplers(table, n_trials=48, seeds=range(2), prune=False)
    assert set(runs["strategy"]) == set(tune.STRATEGIES)
    assert (runs["regret"] >= -1e-12).all()
    for _, rows in runs.groupby(["strategy", "seed"]):
        assert (np.diff(rows["best"].to_numpy()) >= 0).all()
    # the grid sampler visits all 48 configurations in 48 trials: it must find the optimum
    grid_end = runs[(runs["strategy"] == "grid") & (runs["trial"] == 48)]
    assert np.allclose(grid_end["regret"], 0.0)
    history = tune.random_then_grid(table, 12, seed=0)
    assert len(history) == 12
    with pytest.raises(ValueError, match="argument 'strategies' expected one of"):
        tune.compare_samplers(table, strategies=("annealing",))


def test_random_then_grid_searches_the_best_random_position():
    table = synthetic_table(3)
    values = dict(zip(map(tuple, table[list(tune.SEARCH_SPACE)].to_numpy().tolist()), table["value"]))
    history = tune.random_then_grid(table, 20, seed=4)
    first, rest = history[:10], history[10:]
    best_key = max((k for k, v in values.items() if v in first), key=values.get)
    same_position = {v for k, v in values.items() if k[1] == best_key[1]}
    assert set(rest) <= same_position


def test_the_command_line(tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "vision_attention.tune", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for option in ("--n-trials", "--sampler", "--storage", "--workers", "--study-name", "--epochs"):
        assert option in help_text
    assert "PostgreSQL" in help_text
    bad = subprocess.run([sys.executable, "-m", "vision_attention.tune", "--workers", "2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "needs a shared 'storage'" in bad.stderr


def test_guide_position_names_map_to_ours():
    assert search.GUIDE_POSITION_NAMES == {"before": "pre", "after": "post", "both": None}
    assert all(v is None or v in tune.SEARCH_SPACE["position"] for v in search.GUIDE_POSITION_NAMES.values())
