"""A stand-in for `gemini -p PROMPT --output-format json` (Gemini CLI's headless mode).

One JSON object on stdout: {response, stats: {models: {NAME: {api: {totalRequests, totalErrors,
totalLatencyMs}, tokens: {prompt, candidates, total, cached, thoughts, tool}}}, tools: {...},
files: {...}}}, or {error: {type, message, code}} on failure.
`--scenario success|multi|error|rate_limit`.
"""

import argparse
import json
import sys

ANSWER = '{"summary": "docs updated", "files": ["README.md"]}'


def model(requests, latency, prompt, candidates, cached, thoughts):
    return {"api": {"totalRequests": requests, "totalErrors": 0, "totalLatencyMs": latency},
            "tokens": {"prompt": prompt, "candidates": candidates, "total": prompt + candidates + thoughts,
                       "cached": cached, "thoughts": thoughts, "tool": 0}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--prompt")
    ap.add_argument("-o", "--output-format", default="text")
    ap.add_argument("--scenario", default="success")
    args, _ = ap.parse_known_args()
    if args.scenario in ("error", "rate_limit"):
        err = ({"type": "Error", "message": "[API Error: Quota exceeded for quota metric 'Generate Content API "
                "requests per minute' (RESOURCE_EXHAUSTED)]", "code": 429} if args.scenario == "rate_limit"
               else {"type": "FatalAuthenticationError", "message": "Please set an Auth method in your "
                     "settings.json or specify GEMINI_API_KEY", "code": 41})
        print(json.dumps({"session_id": "b2b90938-611f-4bd0-adf6-829e14549653", "error": err}, indent=2))
        return 1
    models = {"gemini-2.5-pro": model(2, 5032, 9215, 412, 4096, 475)}
    if args.scenario == "multi":
        models["gemini-2.5-flash"] = model(1, 800, 3100, 95, 0, 0)
    doc = {"session_id": "b2b90938-611f-4bd0-adf6-829e14549653", "response": ANSWER, "stats": {
        "models": models,
        "tools": {"totalCalls": 1, "totalSuccess": 1, "totalFail": 0, "totalDurationMs": 12,
                  "totalDecisions": {"accept": 0, "reject": 0, "modify": 0, "auto_accept": 1}, "byName": {}},
        "files": {"totalLinesAdded": 3, "totalLinesRemoved": 1}}}
    print("Loaded cached credentials.")  # what gemini prints before the JSON
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
