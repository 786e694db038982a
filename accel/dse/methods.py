"""Search methods of ``accel sweep``: one table, :data:`SEARCHERS`, from which the sweep spec's allowed
``search.method`` values, the CLI's ``--method`` choices and the sweep driver's dispatch all derive.

A method is either

* a **point stream** (``points``): a function ``(space, search) -> iterator of points`` the driver
  evaluates in order, in parallel and resumably (grid, random); or
* an **ask/tell sampler** (``sampler``): a function ``(search) -> optuna sampler``; the driver runs an
  optuna study with it, one trial per point, and feeds stored results back on resume (NSGA-II, TPE).

Recipe: a new search method is one :class:`SearchMethod` entry here (``register_search_method``);
nothing else changes (tests/test_recipes.py adds one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass(frozen=True)
class SearchMethod:
    """One search method (see the module docstring).

    Attributes:
        name: the ``search.method`` value.
        doc: one line for ``--help`` and error messages.
        needs_n: the spec must give ``search.n`` (points to evaluate).
        points: point-stream methods: ``(space, search) -> iterator of design points``.
        sampler: ask/tell methods: ``(search) -> optuna.samplers.BaseSampler``.
        bounded_by_space: ``n`` is capped at the space's size (sampling without replacement).
    """

    name: str
    doc: str
    needs_n: bool
    points: Callable[[Any, Any], Iterator[dict[str, Any]]] | None = None
    sampler: Callable[[Any], Any] | None = None
    bounded_by_space: bool = False

    def __post_init__(self) -> None:
        if (self.points is None) == (self.sampler is None):
            raise ValueError(f"search method {self.name!r}: give exactly one of points= or sampler=")


def _grid(space: Any, search: Any) -> Iterator[dict[str, Any]]:
    return space.grid()


def _random(space: Any, search: Any) -> Iterator[dict[str, Any]]:
    return iter(space.random(search.n, search.seed))


def _nsga2(search: Any) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(population_size=search.population, seed=search.seed)


def _tpe(search: Any) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=search.seed, multivariate=True)


#: method name -> :class:`SearchMethod` (insertion order = the order ``--help`` lists them)
SEARCHERS: dict[str, SearchMethod] = {}


def register_search_method(method: SearchMethod) -> SearchMethod:
    """Add ``method`` to :data:`SEARCHERS` (ValueError if the name is taken)."""
    if method.name in SEARCHERS:
        raise ValueError(f"search method {method.name!r} is already registered")
    SEARCHERS[method.name] = method
    return method


for _m in (SearchMethod("grid", "every point of the grid", needs_n=False, points=_grid),
           SearchMethod("random", "n points drawn uniformly (without replacement on finite spaces)", needs_n=True,
                        points=_random, bounded_by_space=True),
           SearchMethod("nsga2", "NSGA-II multi-objective genetic search (optuna), n trials", needs_n=True, sampler=_nsga2),
           SearchMethod("tpe", "tree-structured Parzen estimator (optuna), n trials", needs_n=True, sampler=_tpe)):
    register_search_method(_m)
