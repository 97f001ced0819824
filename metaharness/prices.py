"""Estimated cost for agents that report tokens but not money (Codex, Gemini).

The shipped table, `prices.json` beside this module, lists USD per million tokens per model
(input, its cached part, output) and the date the prices were read; `.harness/prices.json`
in the same form overrides or adds models. A model is found by its exact name, else by the
longest listed name it starts with followed by '-' (`gemini-2.5-pro-preview-06-05` is priced
as `gemini-2.5-pro`). A model not in either table gets no estimate: its tokens still count
toward token budgets, its cost stays unknown (0), and the iteration's events say so.
"""

from __future__ import annotations

import json
from pathlib import Path

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any

SHIPPED = Path(__file__).with_name("prices.json")


def table(tree: Path) -> dict[str, dict[str, float]]:
    """Model -> prices: the shipped table with the tree's own laid over it."""
    models = dict(json.loads(SHIPPED.read_text())["models"])
    try:
        own = json.loads((tree / "prices.json").read_text()).get("models")
    except (OSError, ValueError, AttributeError):
        own = None  # none, or not JSON: the shipped prices stand
    if isinstance(own, dict):
        models.update({name: p for name, p in own.items() if _valid(p)})
    return models


def _valid(prices: Any) -> bool:
    return isinstance(prices, dict) and all(
        isinstance(prices.get(k, 0), (int, float)) and prices.get(k, 0) >= 0 for k in ("input", "cached_input", "output"))


def price_of(models: dict[str, dict[str, float]], model: str) -> dict[str, float] | None:
    if model in models:
        return models[model]
    prefixes = [name for name in models if model.startswith(name + "-")]
    return models[max(prefixes, key=len)] if prefixes else None


def estimate(tree: Path, tokens_by_model: dict[str, list[int]]) -> tuple[float, list[str]]:
    """USD for {model: [input, cached input, output]} tokens, and the models with no price."""
    models, usd, unpriced = table(tree), 0.0, []
    for model, (input_tokens, cached, output) in tokens_by_model.items():
        prices = price_of(models, model)
        if prices is None:
            unpriced.append(model)
            continue
        cached = min(cached, input_tokens)
        usd += ((input_tokens - cached) * prices.get("input", 0) + cached * prices.get("cached_input", prices.get("input", 0))
                + output * prices.get("output", 0)) / 1e6
    return round(usd, 6), unpriced
