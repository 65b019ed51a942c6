#![no_main]
// The human, JSON and SARIF renderers on a report of findings in files named by the input, and the
// incident's human and Markdown renderers on an incident whose paths, refs, authors and Secret
// names come from the input: nothing the input holds may reach the output as a control or bidi
// character, and no Markdown table row may be broken by it.
use sopsguard::incident::{CommitRef, Exposure, Incident, PlaintextSecret, SecretNames};
use sopsguard::report::Emitter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\u{0}');
    let path = parts.next().unwrap_or("").to_owned();
    let author = parts.next().unwrap_or("").to_owned();
    let name = parts.next().unwrap_or("").to_owned();
    let body = parts.next().unwrap_or("");
    let engine = sopsguard::config::Settings::default()
        .engine(sopsguard::scan::ScanOptions::default(), sopsguard::sops::Identities::default())
        .expect("built-in rules load");
    let mut report = sopsguard::scan::ScanReport::default();
    let doc = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  {name}: {body}\n");
    let r = engine.scan_blob(&path, doc.as_bytes(), &sopsguard::sops::ConfigSet::default());
    report.add(doc.len() as u64, r);
    report.problems.push(sopsguard::source::Problem { path: path.clone(), message: name.clone() });
    report.sort();
    let registry = sopsguard::rules::Registry::builtin();
    let mut out = Vec::new();
    let human = sopsguard::report::human::Human { color: true, width: 80, quiet: false };
    human.emit(&mut out, &report, &registry).unwrap();
    let s = String::from_utf8_lossy(&out);
    for c in ['\u{7}', '\u{202e}', '\u{9b}', '\r'] {
        assert!(!s.contains(c), "human output holds {c:?}");
    }
    let exposure = Exposure {
        path: path.clone(),
        introduced_in: vec![CommitRef { id: "0".repeat(40), author: author.clone(), date: name.clone(), summary: body.to_owned() }],
        refs: vec![name.clone()],
        ref_tips: vec![author.clone()],
        ..Exposure::default()
    };
    let incident = Incident {
        refs: vec![name.clone()],
        other_keys: vec![("key/private-key".into(), exposure.clone())],
        plaintext_secrets: vec![PlaintextSecret {
            rule: "k8s/plaintext-secret".into(),
            secret: SecretNames { name: name.clone(), namespace: author.clone(), keys: vec![body.to_owned()] },
            exposure,
        }],
        ..Incident::default()
    };
    let md = sopsguard::incident::render::markdown(&incident);
    let h = sopsguard::incident::render::human(&incident, false);
    for s in [&md, &h] {
        assert!(!s.chars().any(|c| sopsguard::textsafe::is_unsafe(c) && c != '\n'), "unsafe character in incident output");
    }
    // Every table row is one line with the table's six columns (escaped `|` do not count).
    for line in md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| ---")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 7, "a table row was broken: {line}");
    }
});
