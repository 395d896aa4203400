"""Layer 4, model tiers (SPEC §4): routing and fallback, pricing with genai-prices, budgets."""
