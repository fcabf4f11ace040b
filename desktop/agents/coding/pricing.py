"""What a Codex run cost, from its tokens: Codex prints tokens but no cost.

Prices are US dollars per million tokens, as OpenAI listed them for the API (checked 2025-10);
a model not in the table gets no cost (None) rather than a guess. Runs on a ChatGPT plan are not
billed per token: for them the figure is what the same tokens would cost through the API.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # per million input tokens that were not cached
    cached_input: float  # per million cached input tokens
    output: float  # per million output tokens


PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 0.125, 10.00),
    "gpt-5-codex": Price(1.25, 0.125, 10.00),
    "gpt-5-mini": Price(0.25, 0.025, 2.00),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "o4-mini": Price(1.10, 0.275, 4.40),
    "codex-mini-latest": Price(1.50, 0.375, 6.00),
}


def codex_cost(model: str | None, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
    """The cost in USD of these tokens on `model`, or None when the model or its price is unknown.

    `input_tokens` includes the cached ones, as Codex counts them.
    """
    price = PRICES.get((model or "").strip().lower())
    if price is None:
        return None
    fresh = max(0, input_tokens - cached_tokens)
    total = fresh * price.input + cached_tokens * price.cached_input + output_tokens * price.output
    return round(total / 1_000_000, 6)
