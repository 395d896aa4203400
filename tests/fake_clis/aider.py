"""A stand-in for `aider --message ... --analytics-log FILE` (Aider-AI/aider).

Appends what aider/analytics.py writes to the analytics log, one JSON object a line:
{"event", "properties": {..., "main_model", "edit_format", "prompt_tokens",
"completion_tokens", "total_tokens", "cost", "total_cost", system info, "aider_version"},
"user_id", "time"} — `message_send` per model call. The log path is --analytics-log or
$AIDER_ANALYTICS_LOG. `--scenario success|multi|error|rate_limit`.
"""

import argparse
import json
import os
import sys
import time

SYSTEM = {"python_version": "3.12.4", "os_platform": "Linux", "os_release": "6.8.0", "machine": "x86_64"}


def send(log, model, prompt, completion, cost, total):
    props = {"main_model": model, "edit_format": "diff", "prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion, "cost": cost, "total_cost": total, **SYSTEM,
             "aider_version": "0.86.1"}
    event(log, "message_send", props)


def event(log, name, props):
    with open(log, "a") as fh:
        json.dump({"event": name, "properties": props, "user_id": "5e0b6c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
                   "time": int(time.time())}, fh)
        fh.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--analytics-log", default=os.environ.get("AIDER_ANALYTICS_LOG"))
    ap.add_argument("--message", "-m")
    ap.add_argument("--scenario", default="success")
    args, _ = ap.parse_known_args()
    log = args.analytics_log
    event(log, "launched", {**SYSTEM, "aider_version": "0.86.1"})
    if args.scenario == "rate_limit":
        print("litellm.RateLimitError: AnthropicException - rate_limit_error. Retrying in 0.2 seconds...",
              file=sys.stderr)
        return 1
    send(log, "anthropic/claude-sonnet-4-5-20250929", 8123, 912, 0.038049, 0.038049)
    if args.scenario == "multi":
        send(log, "anthropic/claude-haiku-4-5-20251001", 2100, 150, 0.00285, 0.040899)
    send(log, "anthropic/claude-sonnet-4-5-20250929", 9400, 204, 0.03126, 0.072159 if args.scenario == "multi" else 0.069309)
    if args.scenario == "error":
        print("Model anthropic/claude-sonnet-4-5-20250929 has hit a token limit!", file=sys.stderr)
        return 1
    print("Applied edit to app.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
