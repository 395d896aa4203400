"""A stand-in for `codex exec --json` (OpenAI Codex CLI): JSONL thread events on stdout.

Event shapes as codex-rs/exec/src/exec_events.rs emits them: thread.started {thread_id},
turn.started, item.started / item.completed {item: {id, type, ...}} (reasoning,
command_execution, agent_message {text}), turn.completed {usage: {input_tokens,
cached_input_tokens, output_tokens}}, turn.failed {error: {message}}, error {message}.
`--scenario success|multi|error|rate_limit`; `-` reads the prompt from stdin.
"""

import argparse
import json
import sys

ANSWER = '{"summary": "endpoint added with tests", "files": ["api.py", "test_api.py"]}'


def emit(event):
    print(json.dumps(event), flush=True)


def turn(usage, message=None):
    emit({"type": "turn.started"})
    emit({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Reading the task**"}})
    cmd = {"id": "item_1", "type": "command_execution", "command": "bash -lc 'ls'", "aggregated_output": "",
           "exit_code": None, "status": "in_progress"}
    emit({"type": "item.started", "item": cmd})
    emit({"type": "item.completed", "item": {**cmd, "aggregated_output": "api.py\n", "exit_code": 0,
                                             "status": "completed"}})
    if message is not None:
        emit({"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": message}})
    emit({"type": "turn.completed", "usage": usage})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", nargs="?")
    ap.add_argument("prompt", nargs="?")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--scenario", default="success")
    args, _ = ap.parse_known_args()
    prompt = sys.stdin.read() if args.prompt in (None, "-") else args.prompt
    if not prompt.strip():
        print("No prompt provided via stdin.", file=sys.stderr)
        return 1
    emit({"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"})
    if args.scenario in ("error", "rate_limit"):
        msg = ("exceeded retry limit, last status: 429 Too Many Requests" if args.scenario == "rate_limit"
               else "stream disconnected before completion: invalid_request_error: context_length_exceeded")
        emit({"type": "turn.started"})
        emit({"type": "error", "message": msg})
        emit({"type": "turn.failed", "error": {"message": msg}})
        return 1
    if args.scenario == "multi":
        turn({"input_tokens": 11200, "cached_input_tokens": 9984, "output_tokens": 340}, "First pass done.")
    turn({"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}, ANSWER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
