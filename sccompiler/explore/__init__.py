"""Design-space exploration: ``scc explore`` (docs/explore.md).

One topic per module: :mod:`.space` (SPACE.yaml checked against the config), :mod:`.objectives`
(objectives and constraints), :mod:`.data` (VAL.npz), :mod:`.trial` (one compile + simulation +
cost), :mod:`.fixed_point` (the k-bit baselines), :mod:`.study` (Optuna), :mod:`.runner` (Dask),
:mod:`.pareto`, :mod:`.report` (CSV/JSON, plots, report.md) and :mod:`.api` (:func:`explore`).
Optuna and Dask are the ``explore`` extra: importing this package needs Optuna.
"""

from __future__ import annotations

from .api import explore, rebuild_trial, trial_record
from .space import Space, load_space, parse_space

__all__ = ["Space", "explore", "load_space", "parse_space", "rebuild_trial", "trial_record"]
