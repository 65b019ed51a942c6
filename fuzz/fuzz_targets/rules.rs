#![no_main]
// The whole per-file engine (every built-in rule, validators, Kubernetes and sops checks) on any
// bytes, under no config and under a broad creation rule; no output may hold a long enough slice
// of the input to be a secret, except file names (fixed here).
use sopsguard::sops::{ConfigFile, ConfigSet, Identities};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let engine = sopsguard::config::Settings::default()
        .engine(sopsguard::scan::ScanOptions::default(), Identities::default())
        .expect("built-in rules load");
    let none = ConfigSet::default();
    let cfg = ConfigSet::new(
        vec![ConfigFile {
            path: ".sops.yaml".into(),
            data: b"creation_rules:\n  - path_regex: .*\n    encrypted_regex: ^(data|stringData|password)$\n    age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n".to_vec(),
        }],
        None,
    );
    for (path, set) in [("secret.yaml", &none), ("apps/secret.yaml", &cfg), ("x.json", &cfg), (".env", &cfg)] {
        let r = engine.scan_blob(path, data, set);
        for f in &r.findings {
            assert!(f.location.byte_end <= data.len().max(f.location.byte_start));
            assert!(f.snippet.chars().count() <= 60, "snippet too long: {}", f.snippet.len());
        }
    }
});
