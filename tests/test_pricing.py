"""Cost from reported usage, normalised per provider and priced with genai-prices."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from genai_prices import Usage, calc_price, extract_usage
from hypothesis import given, settings
from hypothesis import strategies as st

from agentctl.core.config import ModelRef
from agentctl.demo.server import Reply
from agentctl.demo.server import Usage as ServerUsage
from agentctl.providers import TokenUsage
from agentctl.tiers.pricing import cost_usd, normalised_usage, price_per_mtok, run_cost_usd

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("model", ["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"])
def test_anthropic_cost_matches_genai_prices_extract_usage(model):
    raw = {"model": model, "usage": {"input_tokens": 1200, "output_tokens": 800, "cache_read_input_tokens": 5000,
                                     "cache_creation_input_tokens": 900}}
    expected = extract_usage(raw, provider_id="anthropic").calc_price(genai_request_timestamp=NOW).total_price
    ours = cost_usd(ModelRef(model=model), TokenUsage(1200, 800, 5000, 900), NOW)
    assert ours == pytest.approx(float(expected)) and ours > 0
    # the cache discount is real: pricing the cached reads as plain input costs more
    naive = float(calc_price(Usage(input_tokens=7100, output_tokens=800), model, provider_id="anthropic",
                             genai_request_timestamp=NOW).total_price)
    assert ours < naive


def test_openai_prompt_tokens_already_include_cached_tokens():
    raw = {"model": "gpt-4o", "usage": {"prompt_tokens": 6000, "completion_tokens": 500,
                                        "prompt_tokens_details": {"cached_tokens": 5000}}}
    expected = extract_usage(raw, provider_id="openai", api_flavor="chat").calc_price(genai_request_timestamp=NOW)
    ours = cost_usd(ModelRef(provider="openai", model="gpt-4o"), TokenUsage(6000, 500, 5000, 0), NOW)
    assert ours == pytest.approx(float(expected.total_price))
    assert normalised_usage("openai", TokenUsage(6000, 500, 5000, 0))["input_tokens"] == 6000
    assert normalised_usage("anthropic", TokenUsage(1000, 500, 5000, 300))["input_tokens"] == 6300


def test_base_url_selects_the_price_list():
    usage = TokenUsage(tokens_in=3000, tokens_out=400, cache_read=1000)
    xai = ModelRef(provider="openai", model="grok-code-fast-1", base_url="https://api.x.ai/v1")
    expected = calc_price(Usage(input_tokens=3000, output_tokens=400, cache_read_tokens=1000), "grok-code-fast-1",
                          provider_id="x-ai", genai_request_timestamp=NOW).total_price
    assert cost_usd(xai, usage, NOW) == pytest.approx(float(expected))
    # the same model name at OpenAI itself, or at an unknown local server, has no price: unpriced, not $0
    assert cost_usd(ModelRef(provider="openai", model="grok-code-fast-1"), usage, NOW) is None
    assert cost_usd(ModelRef(provider="openai", model="llama3.1:8b", base_url="http://localhost:11434/v1"),
                    usage, NOW) is None
    # a local stand-in of the Anthropic API bills like Anthropic
    local = ModelRef(model="claude-haiku-4-5", base_url="http://127.0.0.1:9999")
    assert cost_usd(local, usage, NOW) == cost_usd(ModelRef(model="claude-haiku-4-5"), usage, NOW)


def test_unknown_model_and_inconsistent_usage_are_unpriced():
    assert cost_usd(ModelRef(model="claude-imaginary-9"), TokenUsage(10, 10), NOW) is None
    # OpenAI usage where cached > prompt is inconsistent: unpriced rather than a crash or a negative price
    assert cost_usd(ModelRef(provider="openai", model="gpt-4o"), TokenUsage(10, 10, 500), NOW) is None


@pytest.mark.parametrize("provider,model,base_url", [
    ("anthropic", "claude-opus-4-6", None), ("anthropic", "claude-sonnet-4-6", None),
    ("anthropic", "claude-haiku-4-5", None), ("openai", "grok-code-fast-1", "https://api.x.ai/v1")])
def test_price_per_mtok_of_the_studio_models(provider, model, base_url):
    from genai_prices import data_snapshot

    ref = ModelRef(provider=provider, model=model, base_url=base_url)
    prices = price_per_mtok(ref, NOW)
    _, info = data_snapshot.get_snapshot().find_provider_model(model, None, None if base_url else provider, base_url)
    mp = info.get_prices(NOW)

    def base(v):  # tiered (long-context) prices show their base rate
        return None if v is None else float(getattr(v, "base", v))

    assert prices == {"input": base(mp.input_mtok), "output": base(mp.output_mtok),
                      "cacheRead": base(mp.cache_read_mtok), "cacheWrite": base(mp.cache_write_mtok)}
    assert prices["input"] > 0 and prices["output"] > prices["input"]


def test_run_with_cache_tokens_records_the_genai_price(llm_ws):
    llm_ws.srv.add(Reply(text="ok", usage=ServerUsage(input=700, output=250, cache_read=12000, cache_write=3000)))
    out = llm_ws.run("seo", prompt="audit")  # premium: claude-opus-4-6
    raw = {"model": "claude-opus-4-6", "usage": {"input_tokens": 700, "output_tokens": 250,
                                                 "cache_read_input_tokens": 12000, "cache_creation_input_tokens": 3000}}
    start = datetime.fromisoformat(out.record.startedAt.replace("Z", "+00:00"))
    expected = extract_usage(raw, provider_id="anthropic").calc_price(genai_request_timestamp=start).total_price
    assert out.record.costUsd == pytest.approx(float(expected))
    assert (out.record.tokensIn, out.record.cacheReadTokens, out.record.cacheWriteTokens) == (700, 12000, 3000)


def test_no_warnings_from_genai_prices():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cost_usd(ModelRef(model="claude-sonnet-4-6"), TokenUsage(1, 1, 1, 1), NOW)
        price_per_mtok(ModelRef(model="claude-sonnet-4-6"), NOW)


def test_models_command_lists_tiers_chains_and_prices(studio_cli):
    res = studio_cli("models", "--json")
    assert res.exit_code == 0, res.stderr
    rows = {r["agent"]: r for r in res.json()["agents"]}
    assert rows["pia"]["model"] == "claude-opus-4-6" and rows["pia"]["tier"] == "premium"
    assert [f["model"] for f in rows["pia"]["fallback"]] == ["claude-sonnet-4-6"]
    assert rows["pia"]["pricePerMTok"]["input"] > rows["jack"]["pricePerMTok"]["input"] > 0
    assert rows["kai"]["provider"] == "openai" and rows["kai"]["pricePerMTok"]["input"] > 0  # priced as xAI
    assert rows["sentinel"]["provider"] == "command" and rows["sentinel"]["pricePerMTok"] is None
    text = studio_cli("models")
    assert text.exit_code == 0 and "claude-opus-4-6" in text.stdout and "claude-sonnet-4-6" in text.stdout


# --- the per-day rate cache used by runs ---------------------------------------------------

FLAT_DAY = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
CACHED_MODELS = [ModelRef(model="claude-opus-4-6"), ModelRef(model="claude-sonnet-4-6"),
                 ModelRef(model="claude-haiku-4-5"), ModelRef(provider="openai", model="gpt-4o-mini"),
                 ModelRef(provider="openai", model="grok-code-fast-1", base_url="https://api.x.ai/v1")]


def _cache(root):
    """The seam's price cache of a file workspace at ``root``."""
    from agentctl.storage.base import open_file_storage

    return open_file_storage(root).cache


@settings(max_examples=60, deadline=None)
@given(ref=st.sampled_from(CACHED_MODELS), out=st.integers(0, 10**6), uncached=st.integers(0, 10**6),
       cr=st.integers(0, 10**6), cw=st.integers(0, 10**5))
def test_cached_rates_equal_genai_prices(tmp_path_factory, ref, out, uncached, cr, cw):
    cache = _cache(tmp_path_factory.getbasetemp())
    if ref.provider == "anthropic":
        usage = TokenUsage(uncached, out, cr, cw)
    else:  # OpenAI reports the total (cached included) and no cache writes here
        usage = TokenUsage(uncached + cr, out, cr, 0)
    direct = cost_usd(ref, usage, FLAT_DAY)
    assert run_cost_usd(ref, usage, FLAT_DAY, cache) == pytest.approx(direct, rel=1e-9, abs=1e-12)
    assert run_cost_usd(ref, usage, FLAT_DAY, cache) == pytest.approx(direct, rel=1e-9, abs=1e-12)  # from the cache


def test_tiered_prices_bypass_the_cache(tmp_path):
    tiered_day = datetime(2026, 3, 1, tzinfo=UTC)  # claude-opus-4-6 had long-context tiers then
    ref = ModelRef(model="claude-opus-4-6")
    for usage in (TokenUsage(1000, 100), TokenUsage(250_000, 100)):  # under and over the 200k tier
        assert run_cost_usd(ref, usage, tiered_day, _cache(tmp_path)) == cost_usd(ref, usage, tiered_day)
    assert cost_usd(ref, TokenUsage(250_000, 0), tiered_day) > 2 * cost_usd(ref, TokenUsage(125_000, 0), tiered_day)
    assert [e["kind"] for _, e in _cache(tmp_path).items()] == ["exact"]


def test_unpriced_is_cached_as_unpriced(tmp_path, monkeypatch):
    import agentctl.tiers.pricing as pricing

    ref = ModelRef(provider="openai", model="local-llama", base_url="http://127.0.0.1:1/v1")
    assert run_cost_usd(ref, TokenUsage(10, 10), FLAT_DAY, _cache(tmp_path)) is None
    monkeypatch.setattr(pricing, "_derive", lambda *a: pytest.fail("the cache was not used"))
    assert run_cost_usd(ref, TokenUsage(10, 10), FLAT_DAY, _cache(tmp_path)) is None
    # another day is another entry
    with pytest.raises(BaseException, match="cache was not used"):
        run_cost_usd(ref, TokenUsage(10, 10), datetime(2026, 11, 3, tzinfo=UTC), _cache(tmp_path))


def test_the_price_cache_keeps_only_recent_days(tmp_path):
    ref = ModelRef(model="claude-haiku-4-5")
    cache = _cache(tmp_path)
    run_cost_usd(ref, TokenUsage(10, 10), FLAT_DAY, cache)
    run_cost_usd(ref, TokenUsage(10, 10), FLAT_DAY + timedelta(days=3), cache)  # a miss sweeps the days gone by
    assert [k.split("|")[3] for k, _ in cache.items()] == ["2026-11-05"]


def test_a_run_with_a_warm_rate_cache_does_not_load_the_price_tables(llm_ws):
    import subprocess
    import sys

    assert llm_ws.run("writer", prompt="first").exit_code == 0  # fills the price cache (state/cache/)
    code = ("import sys\nfrom agentctl.cli.main import app\n"
            "try:\n    app(['-w', sys.argv[1], 'run', 'writer', '--prompt', 'again'])\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "print('LOADED:' + ','.join(m for m in ('genai_prices.data', 'anthropic') if m in sys.modules))")
    env = {k: v for k, v in llm_ws.env.items() if not k.startswith("AGENTCTL_")}
    out = subprocess.run([sys.executable, "-c", code, str(llm_ws.root)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED:anthropic"
    costs = [r["costUsd"] for r in llm_ws.records()]
    assert len(costs) == 2 and all(c and c > 0 for c in costs)


@pytest.mark.parametrize(("ref", "lookups"), [
    (ModelRef(model="claude-sonnet-4-6"), [{"provider_id": "anthropic"}]),
    (ModelRef(provider="openai", model="gpt-4o-mini"), [{"provider_id": "openai"}]),
    # the scorecard's comparisons fall back to any provider listing the model (calc_price without one)
    (ModelRef(provider="openai", model="grok-code-fast-1"), [{}]),
])
def test_list_price_through_the_rate_cache_matches_calc_price(tmp_path, monkeypatch, ref, lookups):
    import agentctl.tiers.pricing as pricing

    expected = float(calc_price(Usage(input_tokens=1234, output_tokens=567), ref.model,
                                genai_request_timestamp=FLAT_DAY, **lookups[0]).total_price)
    assert pricing.list_price_usd(ref, 1234, 567, FLAT_DAY, _cache(tmp_path)) == pytest.approx(expected, rel=1e-9)
    monkeypatch.setattr(pricing, "_derive", lambda *a, **k: pytest.fail("the cache was not used"))
    assert pricing.list_price_usd(ref, 1234, 567, FLAT_DAY, _cache(tmp_path)) == pytest.approx(expected, rel=1e-9)


def test_list_price_of_a_model_nobody_lists_is_none(tmp_path):
    from agentctl.tiers.pricing import list_price_usd

    assert list_price_usd(ModelRef(provider="openai", model="local-llama-x"), 10, 10, FLAT_DAY, _cache(tmp_path)) is None

