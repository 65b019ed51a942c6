//! Entry points for the cargo-fuzz targets in `fuzz/` (built with the `testkit` feature). Each
//! runs one parser on arbitrary input; any panic is a bug.

use super::{check_file, inspect, ConfigFile, ConfigSet, Identities, SopsContext, StoreKind};

/// The `ENC[…]` parser, then a decryption attempt under a fixed key.
pub fn enc_value(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(v) = super::cipher::parse_enc(s) {
        let key = super::cipher::DataKey(zeroize::Zeroizing::new(vec![7u8; 32]));
        if let Ok(c) = super::cipher::ValueCipher::new(&key) {
            let _ = c.decrypt(&v, b"a:b:");
        }
    }
}

/// The metadata loader for every store (extraction, unflattening, decoding).
pub fn metadata(data: &[u8]) {
    for name in ["f.yaml", "f.json", "f.env", "f.ini", "f.bin"] {
        let _ = inspect(name, data);
    }
}

/// One store's parser and everything `check_file` does with its tree, under a config whose rule
/// matches every file, in strict mode.
pub fn store(kind: StoreKind, data: &[u8]) {
    static CONFIGS: std::sync::LazyLock<ConfigSet> = std::sync::LazyLock::new(|| {
        ConfigSet::new(
            vec![ConfigFile {
                path: ".sops.yaml".into(),
                data: b"creation_rules:\n  - path_regex: .*\n    encrypted_regex: ^(data|stringData|password)$\n    age: age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun\n".to_vec(),
            }],
            None,
        )
    });
    let path = match kind {
        StoreKind::Yaml => "secrets/f.sops.yaml",
        StoreKind::Json => "secrets/f.sops.json",
        StoreKind::Dotenv => "secrets/f.sops.env",
        StoreKind::Ini => "secrets/f.sops.ini",
        StoreKind::Binary => "secrets/f.sops.bin",
    };
    let ids = Identities::none();
    for strict in [false, true] {
        let out = check_file(path, data, &SopsContext { configs: &CONFIGS, identities: &ids, strict });
        for h in &out.hits {
            assert!(h.span.end <= data.len() && h.span.start <= h.span.end, "span out of range");
            if let Some(s) = &h.secret {
                assert!(s.end <= data.len() && s.start <= s.end, "secret span out of range");
            }
        }
    }
}

/// The `.sops.yaml` loader and rule selection.
pub fn sops_config(data: &[u8]) {
    let set = ConfigSet::new(vec![ConfigFile { path: "a/.sops.yaml".into(), data: data.to_vec() }], None);
    for h in set.problems().iter().flat_map(|p| p.1.iter()) {
        assert!(h.span.end <= data.len() && h.span.start <= h.span.end, "config span out of range");
    }
    for p in ["a/x.yaml", "a/b/secret.enc.json", "a/.env", "x"] {
        let _ = set.select(p);
    }
}
