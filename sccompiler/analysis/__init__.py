"""Analyses of compiled designs: the error budget (:mod:`.error_budget`) over the mixed-value
runtime (:mod:`.mixed`), which replaces chosen classes of stochastic elements by their exact
expectation."""

from .error_budget import ErrorBudget, budget_table, error_budget, write_budget_plot
from .mixed import MixedRuntime, element_classes

__all__ = ["ErrorBudget", "MixedRuntime", "budget_table", "element_classes", "error_budget", "write_budget_plot"]
