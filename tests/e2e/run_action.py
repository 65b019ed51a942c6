#!/usr/bin/env python3
"""Runs the steps of a composite action (action.yml) locally, as the GitHub Actions runner does.

usage: run_action.py ACTION_DIR [INPUT=VALUE ...]

What the runner does and this reproduces: input defaults and values; `${{ … }}` expressions over
`inputs`, `steps.<id>.outputs`, `github`, `runner` and `env` (with ==, !=, &&, ||, !, always(),
success(), failure()); step `if:` conditions; each `run:` step as `bash --noprofile --norc -eo
pipefail FILE` with its `env:`; GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY files
per step; GITHUB_ACTION_PATH; the first failing step fails the action. `uses:` steps are not run:
`actions/cache` is simulated (a hit when its path exists and is not empty), others are skipped.
The GITHUB_* and RUNNER_* context comes from the environment (set it to simulate an event).

The action's outputs are written as JSON to $RUN_ACTION_OUTPUTS (if set); the exit status is the
failing step's.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml


class Context:
    def __init__(self, action_dir, inputs):
        self.inputs = inputs
        self.steps = {}
        self.env = dict(os.environ)
        self.env["GITHUB_ACTION_PATH"] = action_dir
        self.failed = False

    def lookup(self, name):
        parts = name.split(".")
        if parts[0] == "inputs":
            return self.inputs.get(".".join(parts[1:]), "")
        if parts[0] == "steps" and len(parts) >= 3:
            step = self.steps.get(parts[1], {})
            if parts[2] == "outputs" and len(parts) == 4:
                return step.get("outputs", {}).get(parts[3], "")
            if parts[2] in ("outcome", "conclusion"):
                return step.get("outcome", "")
            return ""
        if parts[0] == "github":
            key = "_".join(parts[1:]).upper()
            return self.env.get("GITHUB_" + key, "")
        if parts[0] == "runner":
            return self.env.get("RUNNER_" + "_".join(parts[1:]).upper(), "")
        if parts[0] == "env":
            return self.env.get(".".join(parts[1:]), "")
        raise SystemExit(f"run_action: unsupported context in expression: {name}")

    # A tiny expression evaluator: enough for the conditions actions write.
    def evaluate(self, expr):
        expr = expr.strip()
        for op in ("||", "&&"):
            parts = split_top(expr, op)
            if len(parts) > 1:
                vals = [self.evaluate(p) for p in parts]
                if op == "||":
                    return next((v for v in vals if truthy(v)), vals[-1])
                return next((v for v in vals if not truthy(v)), vals[-1])
        for op in ("==", "!="):
            parts = split_top(expr, op)
            if len(parts) == 2:
                a, b = (str(self.evaluate(p)).lower() for p in parts)
                return (a == b) if op == "==" else (a != b)
        if expr.startswith("!"):
            return not truthy(self.evaluate(expr[1:]))
        if expr.startswith("(") and expr.endswith(")"):
            return self.evaluate(expr[1:-1])
        if expr in ("always()",):
            return True
        if expr == "success()":
            return not self.failed
        if expr == "failure()":
            return self.failed
        if expr in ("true", "false"):
            return expr == "true"
        if re.fullmatch(r"'(?:[^']|'')*'", expr):
            return expr[1:-1].replace("''", "'")
        if re.fullmatch(r"-?\d+(\.\d+)?", expr):
            return expr
        if re.fullmatch(r"[A-Za-z_][\w.-]*", expr):
            return self.lookup(expr)
        raise SystemExit(f"run_action: unsupported expression: {expr}")

    def interpolate(self, text):
        if text is None:
            return ""
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: to_str(self.evaluate(m.group(1))), str(text))

    def condition(self, cond):
        if cond is None:
            return not self.failed
        cond = str(cond).strip()
        m = re.fullmatch(r"\$\{\{(.*)\}\}", cond, re.S)
        if m:
            cond = m.group(1)
        if not any(f in cond for f in ("always()", "failure()", "success()")) and self.failed:
            return False
        return truthy(self.evaluate(cond))


def split_top(expr, op):
    """Splits on op outside quotes and parentheses."""
    parts, depth, quote, start, i = [], 0, False, 0, 0
    while i < len(expr):
        c = expr[i]
        if c == "'":
            quote = not quote
        elif not quote and c == "(":
            depth += 1
        elif not quote and c == ")":
            depth -= 1
        elif not quote and depth == 0 and expr.startswith(op, i):
            parts.append(expr[start:i])
            i += len(op)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return [p for p in parts] if len(parts) > 1 else [expr]


def truthy(v):
    if isinstance(v, bool):
        return v
    return v not in ("", "0", "false", None)


def to_str(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def read_kv_file(path):
    """Parses a GITHUB_OUTPUT / GITHUB_ENV file: NAME=VALUE lines and NAME<<DELIM heredocs."""
    out = {}
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                value.append(lines[i])
                i += 1
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    action_dir = os.path.abspath(sys.argv[1])
    with open(os.path.join(action_dir, "action.yml"), encoding="utf-8") as f:
        action = yaml.safe_load(f)
    if action.get("runs", {}).get("using") != "composite":
        raise SystemExit("run_action: not a composite action")
    declared = action.get("inputs", {}) or {}
    inputs = {k: to_str((v or {}).get("default", "")) for k, v in declared.items()}
    for arg in sys.argv[2:]:
        name, value = arg.split("=", 1)
        if name not in declared:
            raise SystemExit(f"run_action: unknown input {name!r} (declared: {', '.join(declared)})")
        inputs[name] = value
    ctx = Context(action_dir, inputs)
    summary = ctx.env.get("GITHUB_STEP_SUMMARY") or tempfile.mktemp(prefix="summary-")
    status = 0
    with tempfile.TemporaryDirectory(prefix="run-action-") as tmp:
        for n, step in enumerate(action["runs"]["steps"]):
            sid = step.get("id", f"__step{n}")
            name = step.get("name") or sid
            if not ctx.condition(step.get("if")):
                why = f"if: {step['if']}" if step.get("if") else "a previous step failed"
                print(f"::group::skip {name} ({why})\n::endgroup::", flush=True)
                ctx.steps[sid] = {"outputs": {}, "outcome": "skipped"}
                continue
            if "uses" in step:
                outputs = {}
                if step["uses"].startswith("actions/cache@"):
                    path = ctx.interpolate((step.get("with") or {}).get("path", ""))
                    hit = os.path.isdir(path) and bool(os.listdir(path))
                    outputs["cache-hit"] = "true" if hit else "false"
                    print(f"run_action: {step['uses']} simulated: cache-hit={outputs['cache-hit']} ({path})", flush=True)
                else:
                    print(f"run_action: {step['uses']} not run", flush=True)
                ctx.steps[sid] = {"outputs": outputs, "outcome": "success"}
                continue
            files = {k: os.path.join(tmp, f"{k}-{n}") for k in ("output", "env", "path")}
            for p in files.values():
                open(p, "w").close()
            env = dict(ctx.env)
            for k, v in (step.get("env") or {}).items():
                env[k] = ctx.interpolate(v)
            env.update(GITHUB_OUTPUT=files["output"], GITHUB_ENV=files["env"], GITHUB_PATH=files["path"],
                       GITHUB_STEP_SUMMARY=summary)
            script = os.path.join(tmp, f"step-{n}.sh")
            with open(script, "w", encoding="utf-8") as f:
                f.write(ctx.interpolate(step["run"]))
            shell = step.get("shell")
            if shell != "bash":
                raise SystemExit(f"run_action: step {name}: only `shell: bash` is supported, not {shell!r}")
            print(f"::group::run {name}\n::endgroup::", flush=True)
            rc = subprocess.call(["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
                                 env=env, cwd=ctx.env.get("GITHUB_WORKSPACE") or os.getcwd())
            ctx.steps[sid] = {"outputs": read_kv_file(files["output"]),
                              "outcome": "success" if rc == 0 else "failure"}
            ctx.env.update(read_kv_file(files["env"]))
            for p in reversed([l for l in open(files["path"]).read().split("\n") if l]):
                ctx.env["PATH"] = p + os.pathsep + ctx.env.get("PATH", "")
            if rc != 0:
                print(f"run_action: step {name} failed with exit code {rc}", flush=True)
                ctx.failed = True
                status = status or rc
    outputs = {k: ctx.interpolate((v or {}).get("value", "")) for k, v in (action.get("outputs") or {}).items()}
    if os.environ.get("RUN_ACTION_OUTPUTS"):
        with open(os.environ["RUN_ACTION_OUTPUTS"], "w", encoding="utf-8") as f:
            json.dump(outputs, f, indent=2, sort_keys=True)
    print(f"run_action: outputs {json.dumps(outputs, sort_keys=True)}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
