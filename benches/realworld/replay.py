#!/usr/bin/env python3
"""Replay sopsguard (and optionally gitleaks / kingfisher) over real-repository clones and
score the findings against the hand triage in benches/realworld/triage/*.tsv.

Stdlib only, deterministic output, never prints a snippet or a value: only paths, rule ids,
counts (the triage's `why` column is not echoed either).

    python3 benches/realworld/replay.py --clones DIR --bin target/release/sopsguard \
        [--mode head|history|objects|both] [--repo owner__name ...] [--peers] [--json OUT]

Modes: `head` scans the work tree, `history` adds `--history` (every blob a ref reaches, as
`gitleaks git` sees it), `objects` adds `--history --all-objects` and scores only what the
objects no ref reaches add (e.g. GitHub `refs/pull/*` commits a mirror copied); `both` runs all
three, `objects` only for repositories whose triage has `objects` rows.
"""
import argparse
import collections
import functools
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRIAGE_DIR = os.path.join(HERE, "triage")
COLUMNS = ["mode", "path", "rule", "verdict", "class", "found_by", "why"]
VERDICTS = {"TP", "FP", "either"}
MODES = {"head", "history", "objects"}


class TriageError(Exception):
    pass


def glob_to_regex(pattern):
    """`*` = any run within one segment, `**` = any depth (including zero segments)."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def load_triage(path):
    header = {}
    rows = []
    saw_columns = False
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            if line.startswith("#"):
                m = re.match(r"#\s*(repo|commit|shape)\s*:\s*(.*)$", line)
                if m and m.group(1) not in header:
                    header[m.group(1)] = m.group(2).strip()
                continue
            cells = line.split("\t")
            if not saw_columns:
                if [c.strip() for c in cells] != COLUMNS:
                    raise TriageError(f"{path}:{lineno}: expected header row {COLUMNS}")
                saw_columns = True
                continue
            if len(cells) != 7:
                raise TriageError(f"{path}:{lineno}: expected 7 columns, got {len(cells)}")
            row = dict(zip(COLUMNS, (c.strip() for c in cells)))
            if row["mode"] not in MODES:
                raise TriageError(f"{path}:{lineno}: bad mode")
            if row["verdict"] not in VERDICTS:
                raise TriageError(f"{path}:{lineno}: bad verdict")
            row["line"] = lineno
            row["re"] = glob_to_regex(row["path"])
            rows.append(row)
    for k in ("repo", "commit"):
        if k not in header:
            raise TriageError(f"{path}: missing `# {k}:` header")
    if not re.fullmatch(r"[0-9a-f]{40}", header["commit"]):
        raise TriageError(f"{path}: commit is not 40 hex digits")
    if not saw_columns:
        raise TriageError(f"{path}: no header row")
    return header, rows


def git_head(clone):
    try:
        out = subprocess.run(["git", "-C", clone, "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def run_sopsguard(binary, clone, mode, raw=None):
    cmd = [binary, "scan", "--format", "json", "--fail-on", "never"]
    if mode == "history":
        cmd.insert(2, "--history")
    elif mode == "objects":
        cmd[2:2] = ["--history", "--all-objects"]
    proc = subprocess.run(cmd, cwd=clone, capture_output=True, text=True)
    if raw:
        # sopsguard's own JSON report (redacted snippets, no value), for triaging by hand.
        os.makedirs(raw, exist_ok=True)
        with open(os.path.join(raw, f"{os.path.basename(clone)}.{mode}.json"), "w", encoding="utf-8") as f:
            f.write(proc.stdout)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None, f"sopsguard exited {proc.returncode} without a JSON report"
    if proc.returncode not in (0, 1, 2):
        return None, f"sopsguard exited {proc.returncode}"
    findings = []
    fixtures = []
    notes = 0
    for f in doc.get("findings", []):
        sev = f.get("severity")
        if sev in ("error", "warning"):
            findings.append((f.get("path", ""), f.get("rule", "")))
        else:
            notes += 1
            # A finding in a test or vendored directory is reported as a note by default: it is
            # found (recall), but not an error or warning (precision).
            if (f.get("properties") or {}).get("fixture"):
                fixtures.append((f.get("path", ""), f.get("rule", "")))
    # exit 2 with a report: some inputs could not be read (e.g. blobs absent from a partial
    # clone); the findings are still scored and the problem count is shown.
    return {"findings": findings, "fixtures": fixtures, "notes": notes, "exit": proc.returncode,
            "problems": len(doc.get("problems", []))}, None


def norm_peer_path(p, clone):
    p = p or ""
    root = os.path.abspath(clone)
    if os.path.isabs(p):
        try:
            p = os.path.relpath(p, root)
        except ValueError:
            pass
    while p.startswith("./"):
        p = p[2:]
    return p.replace(os.sep, "/")


def run_gitleaks(clone, mode):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "r.json")
        if mode == "head":
            cmd = ["gitleaks", "dir", "--no-banner", "-f", "json", "-r", report, "."]
        else:
            cmd = ["gitleaks", "git", "--no-banner", "-f", "json", "-r", report, "."]
        try:
            subprocess.run(cmd, cwd=clone, capture_output=True, text=True)
            with open(report, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError):
            return None
    return sorted({norm_peer_path(d.get("File", ""), clone) for d in data or []})


def run_kingfisher(clone, mode):
    hist = "none" if mode == "head" else "full"
    cmd = ["kingfisher", "scan", "-n", "--no-update-check", "--format", "json",
           "--git-history", hist, "."]
    try:
        proc = subprocess.run(cmd, cwd=clone, capture_output=True, text=True)
        # kingfisher may print a second (summary) JSON document after the report
        doc, _ = json.JSONDecoder().raw_decode(proc.stdout.lstrip())
    except (OSError, json.JSONDecodeError):
        return None
    paths = set()
    for item in doc.get("findings", []) if isinstance(doc, dict) else []:
        fin = item.get("finding", {}) if isinstance(item, dict) else {}
        p = fin.get("path")
        if not p:
            # history findings carry the path in git metadata
            git = fin.get("git_metadata") or {}
            p = (git.get("file") or {}).get("path") if isinstance(git.get("file"), dict) else None
        if p:
            paths.add(norm_peer_path(p, clone))
    return sorted(paths)


def row_matches(row, mode, path, rule, any_rule=False):
    if row["mode"] != mode or not row["re"].match(path):
        return False
    return any_rule or row["rule"] == "*" or row["rule"] == rule


def pct(num, den):
    return "n/a" if den == 0 else f"{100.0 * num / den:.1f}%"


@functools.lru_cache(maxsize=None)
def absent_from_clone(clone, mode, path):
    """True when a row names one literal path that no object of the clone holds: at HEAD, no such
    tracked file; in history, no commit of any ref touches it. Such a row (a file a later or an
    earlier snapshot of the repository held) cannot be found by any tool on this clone; it is
    listed as absent and left out of recall rather than silently dropped."""
    if any(c in path for c in "*?[") or mode == "objects":
        return False
    if mode == "head":
        r = subprocess.run(["git", "-C", clone, "ls-files", "--error-unmatch", "--", path],
                           capture_output=True)
        return r.returncode != 0
    r = subprocess.run(["git", "-C", clone, "log", "--all", "--format=%H", "-1", "--", path],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.strip() == ""


def recall_rows(rows, mode, clone):
    """The TP rows recall counts in this mode, and those absent from the clone. `same-leak` rows
    are true findings on a leak another row already counts (another rule on the same value, the
    same value at another path): they count for precision, not for recall."""
    tp_rows = [r for r in rows if r["mode"] == mode and r["verdict"] == "TP" and r["class"] != "same-leak"]
    absent = [r for r in tp_rows if clone is not None and absent_from_clone(clone, mode, r["path"])]
    return [r for r in tp_rows if r not in absent], absent


def score(rows, result, mode, clone=None):
    """Returns a dict of counts and lists; deterministic."""
    mrows = [r for r in rows if r["mode"] == mode]
    tp = fp = ign = 0
    untriaged = []
    for path, rule in result["findings"]:
        hit = [r for r in mrows if row_matches(r, mode, path, rule)]
        if not hit:
            untriaged.append((path, rule))
            continue
        # A specific-rule row wins over a `*` row; TP wins over either wins over FP on ties.
        hit.sort(key=lambda r: (r["rule"] == "*", {"TP": 0, "either": 1, "FP": 2}[r["verdict"]],
                                r["line"]))
        v = hit[0]["verdict"]
        if v == "TP":
            tp += 1
        elif v == "FP":
            fp += 1
        else:
            ign += 1
    tp_rows, absent = recall_rows(rows, mode, clone)
    found, misses = [], []
    for r in tp_rows:
        if any(row_matches(r, mode, p, ru) for p, ru in result["findings"] + result.get("fixtures", [])):
            found.append(r)
        else:
            misses.append(r)
    per_class = {}
    for r in tp_rows:
        c = per_class.setdefault(r["class"], [0, 0])
        c[1] += 1
        if r in found:
            c[0] += 1
    return {
        "findings": len(result["findings"]), "notes": result["notes"], "tp": tp, "fp": fp,
        "either": ign, "untriaged": len(untriaged), "tp_rows": len(tp_rows), "found": len(found),
        "per_class": per_class,
        "misses": sorted({(r["path"], r["rule"], r["class"]) for r in misses}),
        "absent": sorted({(r["path"], r["class"]) for r in absent}),
        "untriaged_list": sorted(set(untriaged)),
        "untriaged_counts": {f"{p}\t{r}": untriaged.count((p, r)) for p, r in sorted(set(untriaged))},
    }


def peer_score(rows, mode, paths, clone=None):
    tp_rows, _ = recall_rows(rows, mode, clone)
    found = [r for r in tp_rows if any(r["re"].match(p) for p in paths)]
    return {"tp_rows": len(tp_rows), "found": len(found), "reported_paths": len(paths),
            "missed": sorted({(r["path"], r["class"]) for r in tp_rows if r not in found})}


def print_score(name, s, out):
    prec_den = s["tp"] + s["fp"] + s["untriaged"]
    out.append(f"  {name}: findings {s['findings']} (error+warning), notes {s['notes']}; "
               f"TP {s['tp']} FP {s['fp']} either {s['either']} untriaged {s['untriaged']}; "
               f"precision {pct(s['tp'], prec_den)}; recall {s['found']}/{s['tp_rows']} "
               f"({pct(s['found'], s['tp_rows'])})")
    for cls in sorted(s["per_class"]):
        f_, t_ = s["per_class"][cls]
        out.append(f"    class {cls}: {f_}/{t_} ({pct(f_, t_)})")
    for p, r, c in s["misses"]:
        out.append(f"    miss: {p}  {r}  [{c}]")
    for p, c in s["absent"]:
        out.append(f"    absent from this clone (not counted): {p}  [{c}]")
    for key, n in s["untriaged_counts"].items():
        p, r = key.split("\t")
        out.append(f"    untriaged: {p}  {r}  x{n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clones", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mode", choices=["head", "history", "objects", "both"], default="both")
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--raw", help="also keep each sopsguard JSON report in this directory (outside the project)")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    modes = ["head", "history", "objects"] if args.mode == "both" else [args.mode]

    files = sorted(f for f in os.listdir(TRIAGE_DIR) if f.endswith(".tsv"))
    if args.repo:
        want = set(args.repo)
        files = [f for f in files if f[:-4] in want]
    out = []
    report = {"repos": {}, "overall": {}}
    total = {m: {"findings": 0, "notes": 0, "tp": 0, "fp": 0, "either": 0, "untriaged": 0,
                 "tp_rows": 0, "found": 0, "per_class": {}} for m in modes}
    peer_total = {m: {t: {"tp_rows": 0, "found": 0} for t in ("gitleaks", "kingfisher")}
                  for m in modes}
    status = 0
    for fname in files:
        name = fname[:-4]
        try:
            header, rows = load_triage(os.path.join(TRIAGE_DIR, fname))
        except (TriageError, OSError, UnicodeDecodeError) as e:
            out.append(f"{name}: bad triage file: {e}")
            status = 2
            continue
        clone = os.path.join(args.clones, name)
        if not os.path.isdir(clone):
            out.append(f"{name}: no clone, skipped")
            continue
        head = git_head(clone)
        if head != header["commit"]:
            out.append(f"{name}: clone is at {head}, triage at {header['commit']}: skipped")
            continue
        out.append(f"{header['repo']} @ {header['commit'][:12]} ({header.get('shape', '')})")
        rep = {}
        results = {}
        for mode in modes:
            if mode == "objects" and not any(r["mode"] == "objects" for r in rows):
                continue
            result, err = run_sopsguard(binary, clone, mode, args.raw)
            if not err:
                results[mode] = result
            if mode == "objects" and not err:
                # Only what the unreferenced objects add: the findings of `--all-objects` less
                # those of the refs-only history scan (as multisets of (path, rule)).
                hist = results.get("history")
                if hist is None:
                    hist, err = run_sopsguard(binary, clone, "history")
                if not err:
                    for k in ("findings", "fixtures"):
                        extra = collections.Counter(result[k]) - collections.Counter(hist[k])
                        result[k] = sorted(extra.elements())
                    result["notes"] = max(0, result["notes"] - hist["notes"])
            if err:
                out.append(f"  {mode}: {err}")
                status = 2
                continue
            s = score(rows, result, mode, clone)
            print_score(mode, s, out)
            if result["exit"] == 2:
                out.append(f"    note: sopsguard exited 2 with {result['problems']} problem(s)")
            t = total[mode]
            for k in ("findings", "notes", "tp", "fp", "either", "untriaged", "tp_rows", "found"):
                t[k] += s[k]
            for cls, (f_, n_) in s["per_class"].items():
                c = t["per_class"].setdefault(cls, [0, 0])
                c[0] += f_
                c[1] += n_
            entry = {k: v for k, v in s.items() if k not in ("untriaged_counts",)}
            entry["misses"] = [list(x) for x in s["misses"]]
            entry["absent"] = [list(x) for x in s["absent"]]
            entry["untriaged_list"] = [list(x) for x in s["untriaged_list"]]
            if args.peers:
                entry["peers"] = {}
                for tool, fn in (("gitleaks", run_gitleaks), ("kingfisher", run_kingfisher)):
                    paths = fn(clone, mode)
                    if paths is None:
                        out.append(f"    {tool}: could not run")
                        continue
                    ps = peer_score(rows, mode, paths, clone)
                    out.append(f"    {tool}: reports {ps['reported_paths']} paths; TP rows found "
                               f"{ps['found']}/{ps['tp_rows']} ({pct(ps['found'], ps['tp_rows'])})")
                    peer_total[mode][tool]["tp_rows"] += ps["tp_rows"]
                    peer_total[mode][tool]["found"] += ps["found"]
                    entry["peers"][tool] = {k: v for k, v in ps.items() if k != "missed"}
            rep[mode] = entry
        report["repos"][header["repo"]] = {"commit": header["commit"], "modes": rep}
    out.append("overall")
    for mode in modes:
        t = total[mode]
        den = t["tp"] + t["fp"] + t["untriaged"]
        out.append(f"  {mode}: findings {t['findings']} (error+warning), notes {t['notes']}; "
                   f"TP {t['tp']} FP {t['fp']} either {t['either']} untriaged {t['untriaged']}; "
                   f"precision {pct(t['tp'], den)}; recall {t['found']}/{t['tp_rows']} "
                   f"({pct(t['found'], t['tp_rows'])})")
        for cls in sorted(t["per_class"]):
            f_, n_ = t["per_class"][cls]
            out.append(f"    class {cls}: {f_}/{n_} ({pct(f_, n_)})")
        if args.peers:
            for tool in ("gitleaks", "kingfisher"):
                p = peer_total[mode][tool]
                out.append(f"    {tool}: TP rows found {p['found']}/{p['tp_rows']} "
                           f"({pct(p['found'], p['tp_rows'])})")
        report["overall"][mode] = dict(t, precision_den=den,
                                       peers=peer_total[mode] if args.peers else None)
    print("\n".join(out))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, sort_keys=True)
            f.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
