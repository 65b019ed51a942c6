//! Differential test against the real sops: files encrypted by `sops` itself across the five
//! stores, the encryption options and value shapes, and hand-edited variants of them; for every
//! file, sopsguard's verdict must equal sops' own:
//!
//! * `sops decrypt` exits 0 ⇔ sopsguard reports no integrity finding (`sops/mac-mismatch`,
//!   `sops/malformed`, `sops/value-tampered`, `sops/no-identity`, or an error-level
//!   `sops/plaintext-value`);
//! * sops refuses a value the rule encrypts that is in clear ("does not match sops' data
//!   format") ⇒ sopsguard reports `sops/plaintext-value`, and a plaintext value it reports makes
//!   sops fail;
//! * sops decrypts but warns of a comment in clear ("Found possibly unencrypted comment") ⇔
//!   sopsguard reports a `sops/plaintext-value` warning.
//!
//! sops is found as `$SOPSGUARD_SOPS` or `sops` on `PATH`; without it the test prints a note and
//! passes (`.ci/run` installs it, so CI really runs it). The age identities are generated for the
//! run and never printed; neither is any decrypted value or sops' error text (which can quote a
//! value): only case names and verdicts are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use crate::util::Dir;

/// The sops binary to run, if there is one.
fn sops_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SOPSGUARD_SOPS") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("sops")).find(|p| p.is_file())
}

/// Runs sops with only the environment it needs: never the caller's keys or config, never the
/// network (`SOPS_DISABLE_VERSION_CHECK`).
fn sops(bin: &Path, cwd: &Path, keys: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env("SOPS_AGE_KEY_FILE", keys)
        .output()
        .expect("run sops")
}

const YAML: &str = "# top comment
password: hunter2-yaml
token: tok-clear-value
visible: plain-visible
public_clear: shown
n: 42
negzero: -0.0
f: 1.5
big: 123456789012345678901234
b: true
nothing: null
empty: \"\"
uni: \"héllo wörld ✓\"
when: 2024-01-02T03:04:05Z
multi: |
    line one
    line two
nested:
    inner_secret: deep
    # sops:enc
    marked: yes-marked
    level:
        x: 1
list:
    - a
    # in list
    - 2
    - k: v
# sops:plain
note_plain: not-secret
";

/// Several documents: each is walked from an empty path, and all feed one MAC.
const YAML_DOCS: &str = "# first
password: one
list: [a, b]
---
# second
password: two
n: 1
---
token: three
nested:
    deep: 4
";

const JSON: &str = "{\"password\": \"hunter2-json\", \"token\": \"tok\", \"visible\": \"plain-visible\", \"public_clear\": \"shown\", \"n\": 42, \"negzero\": -0, \"e5\": 1e5, \"one\": 1.0, \"big\": 12345678901234567890, \"near\": 9007199254740993, \"f\": 1.5, \"b\": true, \"nothing\": null, \"empty\": \"\", \"uni\": \"héllo ✓\", \"nested\": {\"inner_secret\": \"deep\", \"level\": {\"x\": 1}}, \"list\": [\"a\", 2, {\"k\": \"v\"}, [true, null]]}\n";

const DOTENV: &str = "# top comment
PASSWORD=hunter2-env
TOKEN=tok
VISIBLE=plain-visible
PUBLIC_clear=shown
EMPTY=
MULTI=line1\\nline2
UNI=héllo ✓
# sops:enc
MARKED=yes
inner_secret=deep
# sops:plain
NOTE=not-secret
";

const INI: &str = "; top comment
[db]
password = hunter2-ini
; about token
token = tok
visible = plain-visible
public_clear = shown
empty =
[nested]
inner_secret = deep
; sops:enc
marked = yes
uni = héllo ✓
";

/// Encryption options: the creation rule's lines besides the keys, and whether the file uses
/// three key groups with a threshold of 2 (else one group of two recipients).
const OPTIONS: &[(&str, &str, bool)] = &[
    ("default", "", false),
    ("encrypted_regex", "encrypted_regex: '^(password|PASSWORD|token|TOKEN|nested)$'", false),
    ("unencrypted_regex", "unencrypted_regex: '^(public|PUBLIC|visible|VISIBLE|n|b)'", false),
    ("encrypted_suffix", "encrypted_suffix: _secret", false),
    ("unencrypted_suffix", "unencrypted_suffix: _clear", false),
    ("encrypted_comment_regex", "encrypted_comment_regex: 'sops:enc'", false),
    ("unencrypted_comment_regex", "unencrypted_comment_regex: 'sops:plain'", false),
    (
        "mac_only",
        "encrypted_regex: '^(password|PASSWORD|token|TOKEN|nested)$'\n    mac_only_encrypted: true",
        false,
    ),
    ("shamir", "", true),
    ("shamir_suffix", "unencrypted_suffix: _clear\n    mac_only_encrypted: true", true),
];

/// What a verdict is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Verdict {
    /// sops decrypts it / sopsguard has no integrity finding.
    ok: bool,
    /// A value the rule encrypts is in clear.
    plain_value: bool,
    /// A comment the rule encrypts is in clear (only a warning).
    plain_comment: bool,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", if self.ok { "ok" } else { "refused" })?;
        if self.plain_value {
            f.write_str("+plain-value")?;
        }
        if self.plain_comment {
            f.write_str("+plain-comment")?;
        }
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    find(hay.get(from..)?, needle).map(|i| i + from)
}

/// Where the sops metadata starts (sops writes it after the data in every store).
fn meta_start(data: &[u8]) -> usize {
    [&b"\nsops:\n"[..], b"\"sops\": {", b"\nsops_", b"[sops]"]
        .iter()
        .filter_map(|m| find(data, m))
        .min()
        .unwrap_or(data.len())
}

/// The byte ranges of the `ENC[…]` values of the data (not the metadata), in order.
fn data_encs(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let end = meta_start(data);
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = find_from(data, b"ENC[AES256_GCM,", at) {
        if i >= end {
            break;
        }
        let Some(close) = find_from(data, b"]", i) else { break };
        out.push(i..close + 1);
        at = close + 1;
    }
    out
}

/// The range of the MAC's `ENC[…]`.
fn mac_enc(data: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = meta_start(data);
    let mut at = start;
    while let Some(i) = find_from(data, b"ENC[AES256_GCM,", at) {
        let line = line_of(data, i);
        if find(&data[line.start..i], b"mac").is_some() {
            let close = find_from(data, b"]", i)?;
            return Some(i..close + 1);
        }
        at = i + 1;
    }
    None
}

fn line_of(data: &[u8], at: usize) -> std::ops::Range<usize> {
    let start = data[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let end = find_from(data, b"\n", at).map_or(data.len(), |i| i + 1);
    start..end
}

fn splice(data: &[u8], r: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut v = data[..r.start].to_vec();
    v.extend_from_slice(with);
    v.extend_from_slice(&data[r.end..]);
    v
}

fn replace_first(data: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let i = find(data, from)?;
    Some(splice(data, i..i + from.len(), to))
}

/// Changes the first base64 character of `field` (`data:`, `iv:`, `tag:`) of an `ENC[…]`.
fn flip_field(data: &[u8], enc: std::ops::Range<usize>, field: &[u8]) -> Option<Vec<u8>> {
    let i = find(&data[enc.clone()], field)? + enc.start + field.len();
    let c = data[i];
    let to = if c == b'A' { b'B' } else { b'A' };
    Some(splice(data, i..i + 1, &[to]))
}

/// The first data `ENC[…]` of the given type.
fn enc_of_type(data: &[u8], ty: &str) -> Option<std::ops::Range<usize>> {
    let tail = format!(",type:{ty}]");
    data_encs(data).into_iter().find(|r| data[r.clone()].ends_with(tail.as_bytes()))
}

fn retype(data: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    let r = enc_of_type(data, from)?;
    let tail = format!("type:{from}]");
    let at = r.end - tail.len();
    Some(splice(data, at..r.end, format!("type:{to}]").as_bytes()))
}

/// A data value (not a comment) `ENC[…]`.
fn value_encs(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    data_encs(data).into_iter().filter(|r| !data[r.clone()].ends_with(b"type:comment]")).collect()
}

/// A comment `ENC[…]` written as a comment line (`#ENC[…]`, `; ENC[…]`).
fn comment_line(data: &[u8]) -> Option<std::ops::Range<usize>> {
    data_encs(data).into_iter().find_map(|r| {
        let line = line_of(data, r.start);
        let head = data[line.start..r.start].trim_ascii_start();
        (head == b"#" || head == b"; ").then_some(line)
    })
}

/// Every hand-edited variant of an encrypted file that applies to it.
fn variants(store: &str, enc: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut add = |name: &str, v: Option<Vec<u8>>| out.push((name.to_owned(), v));
    add("original", Some(enc.to_vec()));
    let values = value_encs(enc);
    let first = values.first().cloned();
    add("flip-data", first.clone().and_then(|r| flip_field(enc, r, b"data:")));
    add("flip-iv", first.clone().and_then(|r| flip_field(enc, r, b"iv:")));
    add("flip-tag", first.clone().and_then(|r| flip_field(enc, r, b"tag:")));
    for (from, to) in [
        ("str", "int"),
        ("str", "bytes"),
        ("str", "comment"),
        ("int", "str"),
        ("int", "float"),
        ("float", "int"),
        ("float", "str"),
        ("bool", "str"),
        ("bool", "int"),
        ("time", "str"),
        ("comment", "str"),
    ] {
        add(&format!("retype-{from}-{to}"), retype(enc, from, to));
    }
    let mac = mac_enc(enc);
    add("mac-flip", mac.clone().and_then(|r| flip_field(enc, r, b"data:")));
    add("mac-bytes", mac.clone().map(|r| splice(enc, r.end - "type:str]".len()..r.end, b"type:bytes]")));
    add("mac-comment", mac.clone().map(|r| splice(enc, r.end - "type:str]".len()..r.end, b"type:comment]")));
    add("mac-removed", mac.clone().map(|r| splice(enc, r, b"")));
    add("version-not-semver", replace_first(enc, b"3.11.0", b"3.11"));
    add("version-claims-3.13.2", replace_first(enc, b"3.11.0", b"3.13.2"));
    // lastmodified: sops writes `YYYY-MM-DDTHH:MM:SSZ`; change the last digit of the seconds.
    add(
        "lastmodified",
        find(enc, b"Z").and_then(|_| {
            let i = find(enc, b"lastmodified")?;
            let z = find_from(enc, b"Z", i)?;
            let d = enc[z - 1];
            Some(splice(enc, z - 1..z, &[if d == b'0' { b'1' } else { b'0' }]))
        }),
    );
    if let Some(r) = first.clone() {
        let line = line_of(enc, r.start);
        add("drop-line", Some(splice(enc, line.clone(), b"")));
        let mut dup = enc[..line.end].to_vec();
        dup.extend_from_slice(&enc[line.clone()]);
        dup.extend_from_slice(&enc[line.end..]);
        add("duplicate-line", Some(dup));
        add("value-in-clear", Some(splice(enc, r.clone(), b"hunter2")));
        add("value-emptied", Some(splice(enc, r, b"")));
    }
    if values.len() >= 2 {
        let (a, b) = (values[0].clone(), values[1].clone());
        let mut v = enc[..a.start].to_vec();
        v.extend_from_slice(&enc[b.clone()]);
        v.extend_from_slice(&enc[a.end..b.start]);
        v.extend_from_slice(&enc[a.clone()]);
        v.extend_from_slice(&enc[b.end..]);
        add("swap-values", Some(v));
        let (la, lb) = (line_of(enc, a.start), line_of(enc, b.start));
        if la.end <= lb.start {
            let mut v = enc[..la.start].to_vec();
            v.extend_from_slice(&enc[lb.clone()]);
            v.extend_from_slice(&enc[la.end..lb.start]);
            v.extend_from_slice(&enc[la.clone()]);
            v.extend_from_slice(&enc[lb.end..]);
            add("swap-lines", Some(v));
        }
    }
    // Two items of one YAML list (same AAD: they decrypt, only the MAC catches the swap).
    let items: Vec<_> = values
        .iter()
        .filter(|r| {
            let l = line_of(enc, r.start);
            enc[l.start..r.start].trim_ascii_start() == b"- "
        })
        .cloned()
        .collect();
    if items.len() >= 2 && enc[items[0].clone()] != enc[items[1].clone()] {
        let (a, b) = (items[0].clone(), items[1].clone());
        let mut v = enc[..a.start].to_vec();
        v.extend_from_slice(&enc[b.clone()]);
        v.extend_from_slice(&enc[a.end..b.start]);
        v.extend_from_slice(&enc[a.clone()]);
        v.extend_from_slice(&enc[b.end..]);
        add("swap-list-items", Some(v));
    }
    let plain_comment: &[u8] = if store == "ini" { b"; a plain comment\n" } else { b"# a plain comment\n" };
    add("comment-in-clear", comment_line(enc).map(|l| splice(enc, l, plain_comment)));
    add("comment-dropped", comment_line(enc).map(|l| splice(enc, l, b"")));
    let mut trailing = enc.to_vec();
    trailing.extend_from_slice(b"{}\n");
    add("trailing-object", Some(trailing));
    let mut ws = enc.to_vec();
    ws.extend_from_slice(b"\n \t\n");
    add("trailing-whitespace", Some(ws));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(enc);
    add("bom", Some(bom));
    add("crlf", Some(String::from_utf8_lossy(enc).replace('\n', "\r\n").into_bytes()));
    // Values in clear, as the rule left them: edits and retypes.
    for (name, from, to) in [
        ("clear-edited", &b"plain-visible"[..], &b"plain-visib1e"[..]),
        ("clear-edited-2", b"shown", b"sh0wn"),
        ("clear-int-edited", b": 42", b": 43"),
        ("clear-int-quoted", b": 42", b": \"42\""),
        // yaml.v3 reads an integer above int64 as uint64, a type sops cannot walk.
        ("clear-int-uint64", b"n: 42", b"n: 12345678901234567890"),
        ("clear-bool-quoted", b": true", b": \"true\""),
        ("clear-bool-yes", b"b: true", b"b: True"),
        ("clear-float-padded", b": 1.5", b": 1.50"),
        ("clear-negzero", b"\"negzero\": -0", b"\"negzero\": 0"),
        ("clear-negzero-yaml", b"negzero: -0", b"negzero: 0"),
        ("clear-exponent", b": 100000", b": 1e5"),
        ("clear-one-float", b"\"one\": 1,", b"\"one\": 1.0,"),
        ("clear-big-int", b"9007199254740992", b"9007199254740993"),
        ("clear-big-int-2", b"12345678901234567000", b"12345678901234567001"),
        ("clear-null-tilde", b"nothing: null", b"nothing: ~"),
        ("clear-null-empty", b"nothing: null", b"nothing: \"\""),
        ("clear-null-json", b"\"nothing\": null", b"\"nothing\": \"\""),
        ("clear-time-edited", b"2024-01-02T03:04:05Z", b"2024-01-02T03:04:06Z"),
        ("clear-time-quoted", b": 2024-01-02T03:04:05Z", b": \"2024-01-02T03:04:05Z\""),
        ("clear-key-renamed", b"public_clear", b"public_clearx"),
        ("clear-key-renamed-env", b"PUBLIC_clear", b"PUBLIC_clearx"),
        ("key-renamed", b"password", b"passw0rd"),
        ("key-renamed-env", b"PASSWORD", b"PASSW0RD"),
        ("clear-line-dropped", b"shown", b""),
    ] {
        if name == "clear-line-dropped" {
            add(name, find(&enc[..meta_start(enc)], from).map(|i| splice(enc, line_of(enc, i), to)));
        } else if find(&enc[..meta_start(enc)], from).is_some() {
            add(name, replace_first(enc, from, to));
        }
    }
    out.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))).collect()
}

/// Generates a throwaway age identity: `(secret, recipient)`.
fn identity() -> (String, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    (id.to_string().expose_secret().to_owned(), public)
}

#[test]
#[allow(clippy::print_stderr)]
fn sopsguard_agrees_with_the_real_sops() {
    let Some(bin) = sops_binary() else {
        eprintln!("skipped: sops not found (set SOPSGUARD_SOPS or put sops on PATH; .ci/run installs it)");
        return;
    };
    let work = Dir::new();
    let root = work.path();
    let ids: Vec<(String, String)> = (0..3).map(|_| identity()).collect();
    let keys = root.join("keys.txt");
    std::fs::write(&keys, ids.iter().map(|(s, _)| format!("{s}\n")).collect::<String>()).expect("keys");
    // The identities are read back as age does, so the test cannot pass on a key it cannot use.
    assert!(ids.iter().all(|(s, _)| age::x25519::Identity::from_str(s).is_ok()));
    let (plain_dir, cfg_dir, scan_dir) = (root.join("plain"), root.join("cfg"), root.join("scan"));
    for d in [&plain_dir, &cfg_dir, &scan_dir] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let sources: [(&str, &str, &[u8]); 7] = [
        ("yaml", "yaml", YAML.as_bytes()),
        ("json", "json", JSON.as_bytes()),
        ("dotenv", "env", DOTENV.as_bytes()),
        ("ini", "ini", INI.as_bytes()),
        ("binary", "bin", b"\x00\x01binary \xff payload\nsecond line\n"),
        ("binary_empty", "bin", b""),
        ("yaml_docs", "yaml", YAML_DOCS.as_bytes()),
    ];
    let version = sops(&bin, root, &keys, &["--version"]);
    let version = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or("").to_owned();

    // 1. Encrypt every source under every option with the real sops.
    let mut jobs = Vec::new();
    for (store, ext, text) in sources {
        let src = plain_dir.join(format!("{store}.{ext}"));
        std::fs::write(&src, text).expect("write plain");
        for (opt, lines, shamir) in OPTIONS {
            // The binary store ignores every encryption rule (sops 3.11): two layouts suffice.
            if store.starts_with("binary") && !matches!(*opt, "default" | "shamir" | "encrypted_regex") {
                continue;
            }
            if store == "yaml_docs" && !matches!(*opt, "default" | "encrypted_regex" | "mac_only") {
                continue;
            }
            let keys_yaml = if *shamir {
                format!(
                    "shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]",
                    ids[0].1, ids[1].1, ids[2].1
                )
            } else {
                format!("age: {},{}", ids[0].1, ids[1].1)
            };
            let cfg = cfg_dir.join(format!("{store}-{opt}.sops.yaml"));
            std::fs::write(&cfg, format!("creation_rules:\n  - {keys_yaml}\n    {lines}\n")).expect("cfg");
            jobs.push((store, ext, opt, src.clone(), cfg));
        }
    }
    let clock = std::time::Instant::now();
    let encrypted: Vec<(&str, &str, &str, Vec<u8>)> = parallel(&jobs, |(store, ext, opt, src, cfg)| {
        let out = sops(
            &bin,
            root,
            &keys,
            &["--config", cfg.to_str().expect("utf-8 path"), "encrypt", src.to_str().expect("utf-8 path")],
        );
        assert!(out.status.success(), "sops encrypt {store} {opt} failed (exit {:?})", out.status.code());
        (*store, **opt, *ext, out.stdout)
    });

    let t_encrypt = clock.elapsed();
    // 2. Derive the variants, and ask sops about each.
    let mut cases = Vec::new();
    for (store, opt, ext, enc) in &encrypted {
        let base = format!("{store}-{opt}");
        for (variant, bytes) in variants(store, enc) {
            if !wanted(opt, &variant) {
                continue;
            }
            let name = format!("{base}--{variant}.{ext}");
            std::fs::write(scan_dir.join(&name), &bytes).expect("write case");
            cases.push(name);
        }
    }
    let clock = std::time::Instant::now();
    let sops_verdicts: Vec<Verdict> = parallel(&cases, |name| {
        let path = scan_dir.join(name);
        let out = sops(&bin, root, &keys, &["decrypt", path.to_str().expect("utf-8 path")]);
        // stderr may quote a value: it is only matched, never shown.
        let err = String::from_utf8_lossy(&out.stderr);
        Verdict {
            ok: out.status.success(),
            plain_value: err.contains("does not match sops' data format")
                || err.contains("Expected encrypted value"),
            plain_comment: err.contains("Found possibly unencrypted comment"),
        }
    });

    let t_decrypt = clock.elapsed();
    // 3. sopsguard over all of them at once.
    let clock = std::time::Instant::now();
    let run = work.run(&[
        "scan",
        scan_dir.to_str().expect("utf-8 path"),
        "--format",
        "json",
        "--fail-on",
        "never",
        "--isolated",
        "--identity",
        keys.to_str().expect("utf-8 path"),
    ]);
    let t_scan = clock.elapsed();
    assert_eq!(run.code, 0, "sopsguard scan failed: {}", run.stderr);
    let mut guard: BTreeMap<String, Verdict> =
        cases.iter().map(|c| (c.clone(), Verdict { ok: true, ..Verdict::default() })).collect();
    for f in run.json()["findings"].as_array().expect("findings") {
        let path = f["path"].as_str().unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or(path);
        let Some(v) = guard.get_mut(file) else { continue };
        let warning = f["severity"].as_str() == Some("warning");
        match f["rule"].as_str().unwrap_or("") {
            "sops/plaintext-value" if warning => v.plain_comment = true,
            "sops/plaintext-value" => {
                v.plain_value = true;
                v.ok = false;
            }
            "sops/mac-mismatch" | "sops/malformed" | "sops/value-tampered" | "sops/no-identity" => {
                v.ok = false
            }
            _ => {}
        }
    }

    // 4. Compare.
    let mut disagreements = Vec::new();
    let mut differences: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, s) in cases.iter().zip(&sops_verdicts) {
        let g = guard[name];
        let agree = s.ok == g.ok
            && (!s.plain_value || g.plain_value)
            && (!g.plain_value || !s.ok)
            && (!s.ok || s.plain_comment == g.plain_comment);
        if agree {
            continue;
        }
        match deliberate(name, *s, g) {
            Some(why) => *differences.entry(why).or_default() += 1,
            None => disagreements.push(format!("  {name}: sops {s}, sopsguard {g}")),
        }
    }
    let originals = cases.iter().filter(|c| c.contains("--original.")).count();
    let refused = sops_verdicts.iter().filter(|v| !v.ok).count();
    let agreed = cases.len() - disagreements.len() - differences.values().sum::<usize>();
    eprintln!(
        "differential ({version}): {} cases from {originals} sops-encrypted files ({refused} refused by sops); sopsguard agrees on {agreed} ({:.1}%)",
        cases.len(),
        100.0 * agreed as f64 / cases.len() as f64,
    );
    for (why, n) in &differences {
        eprintln!("  deliberate difference ({n} case(s)): {why}");
    }
    for d in &disagreements {
        eprintln!("{d}");
    }
    eprintln!(
        "  time: sops encrypt {t_encrypt:.1?}, sops decrypt {t_decrypt:.1?}, sopsguard scan {t_scan:.1?}"
    );
    // sops 3.11 refuses some files it wrote itself: it writes a clear YAML float `-0.0` as `-0`,
    // which it reads back as the int 0, so its own MAC no longer matches (sopsguard agrees).
    let refused_originals =
        cases.iter().zip(&sops_verdicts).filter(|(c, v)| c.contains("--original.") && !v.ok).count();
    eprintln!("  sops refuses {refused_originals} of the {originals} files it wrote itself");
    assert_eq!(originals, encrypted.len(), "every file sops wrote is a case");
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s) with sops:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Every variant of the files written with sops' defaults; of the others, those that exercise
/// the encryption rule (which values and comments are encrypted, and what the MAC covers), so
/// that the test stays within a few hundred sops runs.
fn wanted(opt: &str, variant: &str) -> bool {
    const CORE: &[&str] = &[
        "original",
        "flip-data",
        "retype-str-int",
        "retype-comment-str",
        "mac-flip",
        "value-in-clear",
        "swap-values",
        "comment-in-clear",
        "version-claims-3.13.2",
    ];
    opt == "default"
        || CORE.contains(&variant)
        || variant.starts_with("clear-")
        || variant.starts_with("key-renamed")
}

/// Cases where sopsguard differs from sops on purpose (README, "Differences from sops"): why.
fn deliberate(name: &str, sops: Verdict, guard: Verdict) -> Option<&'static str> {
    // The `version` field is in no MAC: a 3.11 file edited to claim 3.13.2 still decrypts with
    // sops 3.11, but sopsguard types its clear JSON numbers as 3.13.2 would (and 3.13.2 would
    // refuse it when a clear `-0` or an integer above 2^53 hashes differently).
    if name.starts_with("json-") && name.contains("--version-claims-3.13.2.") && sops.ok && !guard.ok {
        return Some("the JSON number typing follows the file's `version` field, not the reading sops");
    }
    None
}

/// Maps `f` over `items` on a few threads (sops runs wait on I/O more than they compute), in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = 4.min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker")).collect()
    })
}
