"""Record how the real agent CLIs report a usage or rate limit with its reset time, into
tests/fixtures/transcripts/{claude,codex,gemini}-rate_limit.* (not a test: run by hand).

Each CLI runs offline against a fake API on 127.0.0.1 that answers every request with the
429 its vendor sends at a limit: Anthropic's `anthropic-ratelimit-unified-*` headers (see
fake_anthropic.py; Claude Code reads them only as a subscriber, CLAUDE_CODE_OAUTH_TOKEN),
OpenAI's `usage_limit_reached` body with `resets_at`, Google's RESOURCE_EXHAUSTED with a
RetryInfo detail. The reset is an hour ahead (Gemini's: 37.68 s). Usage, with the CLIs on PATH:

    python tests/realcli/record_rate_limits.py [claude] [codex] [gemini]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the realcli package
from realcli.fake_anthropic import serve as serve_anthropic  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
PROMPT = "Create out.txt containing hello, then say <promise>COMPLETE</promise>."
GEMINI_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more information "
                  "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for "
                  "metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 2, model: "
                  "gemini-2.5-pro\nPlease retry in 37.680249766s.")


def serve_json_429(body: dict[str, Any]) -> ThreadingHTTPServer:
    """A server answering every POST with HTTP 429 and `body`."""
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(429)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


Scenario = tuple[list[str], dict[str, str], str | None, Any, ThreadingHTTPServer]


def scenario(client: str, home: Path, reset: int) -> Scenario:
    """argv, extra environment, stdin, the fake's answer (for the record) and the fake itself."""
    if client == "claude":
        server = serve_anthropic(rate_limit_reset=reset)
        env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
               "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake", "IS_SANDBOX": "1",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
               "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_MAX_RETRIES": "1"}
        argv = ["claude", "-p", PROMPT, "--output-format", "stream-json", "--verbose",
                "--dangerously-skip-permissions", "--max-turns", "3"]
        return argv, env, None, {"status": 429, "headers": "see tests/realcli/fake_anthropic.py _rate_limited",
                                 "anthropic-ratelimit-unified-reset": reset}, server
    if client == "codex":
        body = {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                          "plan_type": "plus", "resets_at": reset, "resets_in_seconds": reset - int(time.time())}}
        server = serve_json_429(body)
        (home / ".codex").mkdir(parents=True)
        provider = (f'model_providers.fake={{name="fake",base_url="http://127.0.0.1:{server.server_address[1]}/v1",'
                    'wire_api="responses",env_key="FAKE_OPENAI_API_KEY",request_max_retries=1,stream_max_retries=1}')
        argv = ["codex", "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
                "-c", "model_provider=fake", "-c", provider, "-m", "gpt-5.5", "-"]
        env = {"CODEX_HOME": str(home / ".codex"), "FAKE_OPENAI_API_KEY": "dummy"}
        return argv, env, PROMPT, {"status": 429, "body": body}, server
    body = {"error": {"code": 429, "message": GEMINI_MESSAGE, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaValue": "2"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}
    server = serve_json_429(body)
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(
        {"security": {"auth": {"selectedType": "gemini-api-key"}}, "general": {"maxAttempts": 1}}))
    env = {"GEMINI_API_KEY": "dummy", "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
           "GEMINI_CLI_NO_RELAUNCH": "true", "GEMINI_TELEMETRY_ENABLED": "false"}
    argv = ["gemini", "-p", "Carry out the instructions given above.", "--output-format", "stream-json",
            "--skip-trust", "--approval-mode", "yolo", "-m", "gemini-2.5-pro"]
    return argv, env, PROMPT, {"status": 429, "body": body}, server


def record(client: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        reset = int(time.time()) + 3600
        argv, env, stdin, answer, server = scenario(client, home, reset)
        clean = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "TZ": os.environ.get("TZ", "UTC")}
        started = time.time()
        run = subprocess.run(argv, cwd=work, env={**clean, **env}, input=(stdin or "").encode(),
                             capture_output=True, timeout=120, check=False)
        duration = round(time.time() - started, 3)
        server.shutdown()
        stdout, stderr = run.stdout.decode(), run.stderr.decode().replace(tmp, "<tmp>")
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        name = OUT / f"{client}-rate_limit"
        name.with_suffix(".jsonl").write_text(stdout)
        if stderr:
            name.with_suffix(".stderr.txt").write_text(stderr)
        port = str(server.server_address[1])
        version = subprocess.run([argv[0], "--version"], capture_output=True, text=True, env={**clean, **env})
        types = [r.get("type") for r in lines]
        meta = {
            "client": client, "run": "rate_limit", "version": version.stdout.strip(),
            "about": "HTTP 429 at a usage/rate limit that states when it resets; recorded by "
                     "tests/realcli/record_rate_limits.py",
            "recorded_at": started, "tz": clean["TZ"], "fake_answer": answer,
            "argv": [a.replace(port, "<port>") for a in argv],
            "stdin": stdin, "env_extra": {k: v.replace(port, "<port>").replace(tmp, "<tmp>") for k, v in env.items()},
            "cwd": "<tmp>/work (fresh, empty)", "home": "<tmp>/home (fresh, empty)",
            "exit_code": run.returncode, "duration_s": duration, "n_lines": len(lines),
            "line_types": {t: types.count(t) for t in dict.fromkeys(types)},
            "result": lines[-1] if lines else None, "final_text": None, "marker_in_final_text": False,
        }
        name.with_suffix(".meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        print(f"{name}.jsonl: exit {run.returncode}, {len(lines)} lines")


if __name__ == "__main__":
    for cli in sys.argv[1:] or ["claude", "codex", "gemini"]:
        if shutil.which(cli) is None:
            sys.exit(f"record_rate_limits: {cli} is not on PATH")
        record(cli)
