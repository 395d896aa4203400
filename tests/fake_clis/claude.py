"""A stand-in for `claude -p --output-format json|stream-json` (Claude Code's headless mode).

Prints the real output shapes field for field (the SDK's ResultMessage: type, subtype, is_error,
duration_ms, duration_api_ms, num_turns, result, session_id, total_cost_usd, usage, modelUsage,
permission_denials, uuid). `--scenario success|multi|error|rate_limit` picks the story; the
prompt arrives on stdin (`stdin: prompt`) or as the argument of -p. No network, no model.
"""

import argparse
import json
import sys

SESSION = "9f8e2c4a-61b7-4f0e-9a53-1c2d3e4f5a6b"
SONNET, HAIKU = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
ANSWER = '```json\n{"summary": "three failing tests fixed", "files": ["app.py"]}\n```'


def model_usage(inp, out, read, write, cost):
    return {"inputTokens": inp, "outputTokens": out, "cacheReadInputTokens": read, "cacheCreationInputTokens": write,
            "webSearchRequests": 0, "costUSD": cost, "contextWindow": 200000}


def result(scenario):
    base = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 12034, "duration_api_ms": 11020,
            "num_turns": 3, "result": ANSWER, "session_id": SESSION, "total_cost_usd": 0.4821,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 10240, "cache_read_input_tokens": 51200,
                      "output_tokens": 2048, "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"},
            "modelUsage": {SONNET: model_usage(12, 2048, 51200, 10240, 0.4821)},
            "permission_denials": [], "uuid": "2b1e0c9d-8f7a-4b6c-9d5e-3f2a1b0c9d8e"}
    if scenario == "multi":
        base["total_cost_usd"] = 0.5133
        base["modelUsage"][HAIKU] = model_usage(18204, 310, 0, 0, 0.0312)
    elif scenario == "error":
        base.update(subtype="error_max_turns", is_error=True, num_turns=10, total_cost_usd=0.0917)
        del base["result"]
        base["modelUsage"] = {SONNET: model_usage(40, 800, 12000, 2048, 0.0917)}
    elif scenario == "rate_limit":
        base.update(is_error=True, num_turns=1, total_cost_usd=0, duration_api_ms=0,
                    result='API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":'
                           '"This request would exceed the rate limit for your organization"}}')
        base["usage"] = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                         "output_tokens": 0, "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"}
        base["modelUsage"] = {}
    return base


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--print", dest="prompt", nargs="?", const="")
    ap.add_argument("--output-format", default="text")
    ap.add_argument("--scenario", default="success")
    ap.add_argument("--verbose", action="store_true")
    args, _ = ap.parse_known_args()
    prompt = args.prompt or sys.stdin.read()
    if not prompt.strip():
        print("Error: Input must be provided either through stdin or as a prompt argument when using --print",
              file=sys.stderr)
        return 1
    res = result(args.scenario)
    if args.output_format == "stream-json":
        init = {"type": "system", "subtype": "init", "cwd": ".", "session_id": SESSION, "tools": ["Bash", "Edit", "Read"],
                "mcp_servers": [], "model": SONNET, "permissionMode": "default", "apiKeySource": "ANTHROPIC_API_KEY"}
        assistant = {"type": "assistant", "message": {"id": "msg_01", "type": "message", "role": "assistant",
                     "model": SONNET, "content": [{"type": "text", "text": res.get("result", "")}],
                     "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 2048}},
                     "parent_tool_use_id": None, "session_id": SESSION}
        for event in (init, assistant, res):
            print(json.dumps(event))
    else:
        print(json.dumps(res))
    return 1 if res["is_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
