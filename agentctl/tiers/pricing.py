"""Cost of a model call from the provider's reported usage, priced with ``genai-prices`` (SPEC §4).

Providers count input tokens differently, so usage is normalised before pricing:

- Anthropic's ``input_tokens`` *excludes* cache reads and writes; genai-prices'
  ``input_tokens`` is the total, so total = input + cache_read + cache_write
  (what ``genai_prices.extract_usage(..., provider_id="anthropic")`` does);
- OpenAI's ``prompt_tokens`` already *includes* cached tokens: total = prompt_tokens.

The run record keeps ``tokensIn`` exactly as the provider reported it.

Which price list: the provider whose API the configured ``base_url`` points at
(``https://api.x.ai/v1`` → xAI), else the configured provider (``anthropic`` /
``openai``: a proxy or a local stand-in of that API bills like it). A model
genai-prices cannot find is *unpriced*: ``None``, never 0 — a free local model and an
unknown price are different facts. ``genai_prices`` is imported only here, lazily
(≈ 170 ms of price tables), on the commands that need a price.

Runs keep that import off their path with a per-day rate cache (the seam's
``storage.cache`` keyed store: ``state/cache/`` on files, rows on PostgreSQL): for a model whose prices are neither tiered nor
time-of-day dependent, cost is affine in the four token counts, so the rates are
*derived from genai-prices itself* (its price for zero usage, then one million
tokens of each kind) once per model per UTC day, keyed by the installed price data,
and reused — the same numbers ``calc_price`` gives. Tiered (long-context) and
off-peak prices always go through genai-prices; on a cache miss the tables are loaded
in the background while the model thinks (``warm_in_background``).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.core.config import ModelRef
from agentctl.providers import TokenUsage

if TYPE_CHECKING:
    from agentctl.storage.base import KeyedStore

_warming: threading.Thread | None = None
MTOK = 1_000_000


def warm_in_background() -> None:
    """Load the price tables in a daemon thread (≈ 170 ms of import) while a model call is in
    flight, so pricing the answer costs nothing extra. Called once the SDK (and so httpx2,
    which genai_prices shares) is loaded, so the two imports never wait on each other."""
    global _warming
    if _warming is not None or "genai_prices.data" in sys.modules:
        return
    _warming = threading.Thread(target=_warm, name="agentctl-prices", daemon=True)
    _warming.start()


def _warm() -> None:
    try:
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()
    except Exception:  # noqa: S110 — best effort: pricing imports it again and reports a real error
        pass


def normalised_usage(provider: str, usage: TokenUsage) -> dict[str, int]:
    """genai-prices ``Usage`` fields for a provider's reported counts."""
    total_in = usage.tokens_in
    if provider == "anthropic":
        total_in += usage.cache_read + usage.cache_write
    return {"input_tokens": total_in, "output_tokens": usage.tokens_out,
            "cache_read_tokens": usage.cache_read, "cache_write_tokens": usage.cache_write}


def _lookups(ref: ModelRef) -> list[dict[str, str]]:
    out = []
    if ref.base_url:
        out.append({"provider_api_url": ref.base_url})
    out.append({"provider_id": ref.provider})
    return out


def cost_usd(ref: ModelRef, usage: TokenUsage, at: datetime) -> float | None:
    """USD for one call, or None when the model cannot be priced."""
    from genai_prices import Usage, calc_price

    priced = Usage(**normalised_usage(ref.provider, usage))
    for where in _lookups(ref):
        try:
            calc = calc_price(priced, ref.model, genai_request_timestamp=at, **where)  # type: ignore[call-overload]
        except LookupError:
            continue
        except ValueError:  # inconsistent usage (e.g. cache counts above the total): unpriced, not a crash
            return None
        return float(calc.total_price)
    return None


def reported_usage_cost_usd(provider: str | None, model: str, usage: TokenUsage, at: datetime) -> float | None:
    """USD for tokens an agent CLI reported (SPEC §5 ``usage:``): priced at ``provider`` when it is known,
    else by genai-prices' own match on the model name; None when it cannot be priced."""
    from genai_prices import Usage, calc_price

    priced = Usage(**normalised_usage(provider or "", usage))
    lookups: list[dict[str, str]] = [{"provider_id": provider}] if provider else []
    for where in [*lookups, {}]:
        try:
            calc = calc_price(priced, model, genai_request_timestamp=at, **where)  # type: ignore[call-overload]
        except LookupError:
            continue
        except ValueError:
            return None
        return float(calc.total_price)
    return None


def _mtok(value: Any) -> float | None:
    if value is None:
        return None
    base = getattr(value, "base", value)  # tiered prices: the base rate
    return float(base)


def price_per_mtok(ref: ModelRef, at: datetime) -> dict[str, float | None] | None:
    """USD per million tokens: input, output, cache read, cache write; None when unpriced."""
    found = _find(ref)
    if found is None:
        return None
    prices = found[1].get_prices(at)
    return {"input": _mtok(prices.input_mtok), "output": _mtok(prices.output_mtok),
            "cacheRead": _mtok(prices.cache_read_mtok), "cacheWrite": _mtok(prices.cache_write_mtok)}


# --- the per-day rate cache ---------------------------------------------------------------

@dataclass(frozen=True)
class Rates:
    """USD = base + input·(total input) + output·out + cache_read·cr + cache_write·cw (per token)."""

    base: float
    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, n: dict[str, int]) -> float | None:
        if n["cache_read_tokens"] + n["cache_write_tokens"] > n["input_tokens"]:
            return None  # inconsistent usage: unpriced, as genai-prices would refuse it
        return (self.base + self.input * n["input_tokens"] + self.output * n["output_tokens"]
                + self.cache_read * n["cache_read_tokens"] + self.cache_write * n["cache_write_tokens"])


def _data_stamp() -> str:
    """Identity of the installed price data, without importing it."""
    spec = importlib.util.find_spec("genai_prices")
    folder = next(iter(spec.submodule_search_locations or ()), None) if spec else None
    try:
        st = (Path(folder) / "data.py").stat() if folder else None
    except OSError:
        st = None
    return f"{st.st_size}-{st.st_mtime_ns}" if st else "unknown"


def _cache_key(ref: ModelRef, at: datetime, stamp: str) -> str:
    return f"{ref.provider}|{ref.model}|{ref.base_url or ''}|{at.strftime('%Y-%m-%d')}|{stamp}"


def _find(ref: ModelRef, any_provider: bool = False) -> tuple[Any, Any] | None:
    """genai-prices' (provider, model) for ``ref``: by ``base_url``'s API, else by provider id (else, with
    ``any_provider``, the first provider that lists the model)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    for where in _lookups(ref) + ([{}] if any_provider else []):
        try:
            return snapshot.find_provider_model(ref.model, None, where.get("provider_id"), where.get("provider_api_url"))
        except LookupError:
            continue
    return None


def _derive(ref: ModelRef, at: datetime, any_provider: bool = False) -> dict[str, Any]:
    """``{"kind": "affine", "rates": [...]}``, ``{"kind": "unpriced"}`` or ``{"kind": "exact"}`` (use genai-prices)."""
    from genai_prices import Usage
    from genai_prices.types import ModelPrice, StartDateConstraint, TieredPrices

    found = _find(ref, any_provider)
    if found is None:
        return {"kind": "unpriced"}
    provider, model = found
    if not isinstance(model.prices, ModelPrice) and any(
            c.constraint is not None and not isinstance(c.constraint, StartDateConstraint) for c in model.prices):
        return {"kind": "exact"}  # off-peak prices change within the day
    if any(isinstance(v, TieredPrices) for v in vars(model.get_prices(at)).values()):
        return {"kind": "exact"}  # the rate depends on the request's size

    def price(**usage: int) -> float:
        return float(model.calc_price(Usage(**usage), provider, genai_request_timestamp=at).total_price)

    base, inp = price(), price(input_tokens=MTOK)
    rates = [base, (inp - base) / MTOK, (price(output_tokens=MTOK) - base) / MTOK,
             (price(input_tokens=MTOK, cache_read_tokens=MTOK) - inp) / MTOK,
             (price(input_tokens=MTOK, cache_write_tokens=MTOK) - inp) / MTOK]
    return {"kind": "affine", "rates": rates}


def _expiry(at: datetime) -> datetime:
    """A day's entry lives until the end of the next UTC day (then it reads as absent and is swept)."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)


def _cached(cache: KeyedStore, key: str, at: datetime) -> dict[str, Any] | None:
    try:
        entry = cache.get(key, at)
    except Exception:  # an unreadable cache is only a slower run
        return None
    return entry if isinstance(entry, dict) and entry.get("kind") in ("affine", "unpriced", "exact") else None


def _remember(cache: KeyedStore, key: str, entry: dict[str, Any], at: datetime) -> None:
    try:
        with cache.transaction(key, at) as slot:
            slot.value = {**entry, "expiresAt": _expiry(at).strftime("%Y-%m-%dT%H:%M:%SZ")}
        cache.sweep(at)  # a miss happens once per model per day: drop the days gone by
    except Exception:  # noqa: S110 — a cache that cannot be written is only a slower next run
        pass


def is_cached(ref: ModelRef, at: datetime, cache: KeyedStore) -> bool:
    entry = _cached(cache, _cache_key(ref, at, _data_stamp()), at)
    return entry is not None and entry["kind"] != "exact"


def run_cost_usd(ref: ModelRef, usage: TokenUsage, at: datetime, cache: KeyedStore) -> float | None:
    """``cost_usd`` for a run, through the per-day rate cache ``cache`` (``storage.cache``)."""
    key = _cache_key(ref, at, _data_stamp())
    entry = _cached(cache, key, at)
    if entry is None:
        entry = _derive(ref, at)
        _remember(cache, key, entry, at)
    if entry["kind"] == "unpriced":
        return None
    if entry["kind"] == "affine":
        rates = Rates(*entry["rates"])
        return rates.cost(normalised_usage(ref.provider, usage))
    return cost_usd(ref, usage, at)


def list_price_usd(ref: ModelRef, tokens_in: int, tokens_out: int, at: datetime, cache: KeyedStore) -> float | None:
    """genai-prices' list price of a call of ``tokens_in`` + ``tokens_out`` tokens (no cache tokens) at ``at``,
    through the same per-day rate cache as runs (the scorecard's model comparisons: it imports genai-prices
    only on a miss). A model the configured provider does not list is looked up under any provider that
    does (``calc_price`` without a provider); None when none does."""
    key = "list|" + _cache_key(ref, at, _data_stamp())
    entry = _cached(cache, key, at)
    if entry is None:
        entry = _derive(ref, at, any_provider=True)
        _remember(cache, key, entry, at)
    if entry["kind"] == "unpriced":
        return None
    if entry["kind"] == "affine":
        rates = Rates(*entry["rates"])
        return rates.base + rates.input * tokens_in + rates.output * tokens_out
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    for where in [*_lookups(ref), {}]:
        try:
            return float(calc_price(usage, ref.model, genai_request_timestamp=at, **where).total_price)  # type: ignore[call-overload]
        except (LookupError, ValueError):
            continue
    return None
