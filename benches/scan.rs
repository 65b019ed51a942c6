//! Engine-level throughput: `Engine::scan_blob` over representative blobs, with byte counters.
//!
//!     cargo bench --bench scan                      # every blob
//!     cargo bench --bench scan -- helmrelease       # one
//!
//! The blobs are built in memory, deterministically (key material is generated at run time and
//! never stored): what a GitOps monorepo is made of. Most files hold no keyword at all (source,
//! docs, ConfigMaps, binaries), so their throughput is the speed of a scan; Kubernetes manifests
//! that mention `Secret` are parsed as YAML; a few files hold findings and pay for fingerprints.
//! The whole-tree comparison against ripgrep is `benches/compare.sh`.

use std::sync::LazyLock;

use divan::counter::BytesCount;
use divan::Bencher;
use sopsguard::scan::{Engine, ScanOptions};
use sopsguard::sops::{ConfigSet, Identities};

fn main() {
    divan::main();
}

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::builtin(ScanOptions::default(), Identities::none()));
static CONFIGS: LazyLock<ConfigSet> = LazyLock::new(ConfigSet::default);

/// A tiny deterministic generator (xorshift64*), so the blobs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn word(&mut self) -> &'static str {
        const WORDS: &[&str] = &[
            "config",
            "server",
            "client",
            "request",
            "handler",
            "error",
            "value",
            "result",
            "context",
            "cluster",
            "namespace",
            "service",
            "release",
            "chart",
            "image",
            "replica",
            "volume",
            "port",
            "metric",
            "label",
            "selector",
            "status",
            "update",
            "create",
            "delete",
            "watch",
            "cache",
            "queue",
            "worker",
            "buffer",
            "stream",
            "parse",
            "encode",
            "decode",
            "token",
            "session",
            "account",
            "policy",
            "verify",
            "digest",
        ];
        WORDS[self.below(WORDS.len())]
    }
    fn b64(&mut self, n: usize) -> String {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..n).map(|_| ALPHA[self.below(64)] as char).collect()
    }
}

/// Go-like source text with no keyword: the bulk of any tree.
fn source(size: usize) -> String {
    let mut r = Rng(1);
    let mut out = String::from("package bench\n\nimport (\n\t\"context\"\n\t\"fmt\"\n)\n\n");
    while out.len() < size {
        let line = match r.below(6) {
            0 => format!("func (s *{}) {}(ctx context.Context) error {{\n", r.word(), r.word()),
            1 => format!(
                "\tif err := s.{}(ctx); err != nil {{\n\t\treturn fmt.Errorf(\"{} {}: %w\", err)\n\t}}\n",
                r.word(),
                r.word(),
                r.word()
            ),
            2 => format!("\t// {} the {} before the {} is {}\n", r.word(), r.word(), r.word(), r.word()),
            3 => format!(
                "\t{} := {}{{Port: {}, Name: \"{}-{}\"}}\n",
                r.word(),
                r.word(),
                r.below(65536),
                r.word(),
                r.word()
            ),
            4 => "}\n\n".to_owned(),
            _ => format!("\tlog.Info(\"{} {}\", \"{}\", {})\n", r.word(), r.word(), r.word(), r.word()),
        };
        out.push_str(&line);
    }
    out
}

/// A Flux HelmRelease with Helm values: mentions `kind: Secret` (valuesFrom), so it is parsed.
fn helmrelease() -> String {
    let mut r = Rng(2);
    let mut out = String::from(
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app\n  namespace: media\n\
         spec:\n  interval: 30m\n  chart:\n    spec:\n      chart: app-template\n      version: 3.5.1\n      sourceRef:\n\
         \x20       kind: HelmRepository\n        name: bjw-s\n        namespace: flux-system\n  valuesFrom:\n\
         \x20   - kind: Secret\n      name: app-values\n  values:\n",
    );
    for i in 0..60 {
        let item = match r.below(5) {
            0 => format!("    {}{i}:\n      existingSecret: app-secret\n      {}: {}\n", r.word(), r.word(), r.below(100)),
            1 => format!("    {}{i}:\n      enabled: true\n      {}: \"{}-{}\"\n", r.word(), r.word(), r.word(), r.word()),
            2 => format!("    # {} {} {} {}\n", r.word(), r.word(), r.word(), r.word()),
            3 => format!(
                "    env{i}:\n      {}:\n        valueFrom:\n          secretKeyRef:\n            name: app-secret\n            key: {}\n",
                r.word().to_uppercase(),
                r.word().to_uppercase()
            ),
            _ => format!("    {}{i}: ${{{}_{}}}\n", r.word(), r.word().to_uppercase(), r.word().to_uppercase()),
        };
        out.push_str(&item);
    }
    out
}

/// A SOPS-encrypted Secret: every value `ENC[…]`, a `sops:` block with age armour.
fn sops_secret() -> String {
    let mut r = Rng(3);
    let mut out = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: app-secret\n    namespace: media\ntype: Opaque\nstringData:\n",
    );
    for _ in 0..12 {
        let len = 40 + r.below(80);
        out.push_str(&format!(
            "    {}_{}: ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]\n",
            r.word().to_uppercase(),
            r.word().to_uppercase(),
            r.b64(len),
            r.b64(43),
            r.b64(22)
        ));
    }
    out.push_str("sops:\n    age:\n");
    for _ in 0..2 {
        out.push_str("        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n");
        out.push_str("          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n");
        for _ in 0..5 {
            out.push_str(&format!("            {}\n", r.b64(64)));
        }
        out.push_str("            -----END AGE ENCRYPTED FILE-----\n");
    }
    out.push_str(&format!(
        "    lastmodified: \"2024-05-01T12:00:00Z\"\n    mac: ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]\n\
         \x20   encrypted_regex: ^(data|stringData)$\n    version: 3.9.0\n",
        r.b64(88),
        r.b64(43),
        r.b64(22)
    ));
    out
}

/// A SealedSecret: long ciphertext values (the false positives of entropy scanners).
fn sealed_secret() -> String {
    let mut r = Rng(4);
    let mut out = String::from(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: app\n  namespace: media\nspec:\n  encryptedData:\n",
    );
    for _ in 0..6 {
        out.push_str(&format!("    {}: Ag{}\n", r.word().to_uppercase(), r.b64(700)));
    }
    out.push_str("  template:\n    metadata:\n      name: app\n    type: Opaque\n");
    out
}

/// A large JSON ConfigMap: a manifest without `Secret`, skipped by the candidate test.
fn configmap_json() -> String {
    let mut r = Rng(5);
    let mut out = String::from("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"data\": {\n");
    for i in 0..400 {
        out.push_str(&format!("    \"{}_{i}\": \"{}-{}-{}\",\n", r.word(), r.word(), r.word(), r.word()));
    }
    out.push_str("    \"end\": \"\"\n  }\n}\n");
    out
}

/// Documentation with keyword hits that are not findings (placeholders, prose).
fn docs_with_placeholders() -> String {
    let mut out = source(16 * 1024).replace("\t//", "Note:");
    out.push_str(
        "\nYour key file looks like this:\n\n```\n# public key: age1...\n\
         AGE-SECRET-KEY-1EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE\n```\n\
         Paste the block that starts with -----BEGIN OPENSSH PRIVATE KEY----- into the deploy key.\n",
    );
    out
}

/// A plaintext Secret holding a fresh age identity: every stage runs, fingerprints included.
fn leaked_secret() -> String {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\n  namespace: flux-system\nstringData:\n  age.agekey: {}\n",
        identity.to_string().expose_secret()
    )
}

/// Random bytes with a NUL early: sniffed as binary.
fn binary(size: usize) -> Vec<u8> {
    let mut r = Rng(6);
    let mut out: Vec<u8> = (0..size).map(|_| r.next() as u8).collect();
    out[100] = 0;
    out
}

struct Blob {
    name: &'static str,
    path: &'static str,
    data: Vec<u8>,
}

impl std::fmt::Display for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

static BLOBS: LazyLock<Vec<Blob>> = LazyLock::new(|| {
    let b = |name, path, data: String| Blob { name, path, data: data.into_bytes() };
    vec![
        b("source_64k", "src/pkg/server.go", source(64 * 1024)),
        b("source_1m", "src/pkg/generated.go", source(1 << 20)),
        b("helmrelease", "kubernetes/apps/media/app/helmrelease.yaml", helmrelease()),
        b("sops_secret", "kubernetes/apps/media/app/secret.sops.yaml", sops_secret()),
        b("sealed_secret", "kubernetes/apps/media/app/sealedsecret.yaml", sealed_secret()),
        b("configmap_json", "manifests/configmap.json", configmap_json()),
        b("docs_placeholders", "docs/age.md", docs_with_placeholders()),
        b("leaked_secret", "kubernetes/flux/vars/sops-age.yaml", leaked_secret()),
        Blob { name: "binary_1m", path: "assets/font.woff2", data: binary(1 << 20) },
    ]
});

fn blobs() -> impl Iterator<Item = &'static Blob> {
    BLOBS.iter()
}

#[divan::bench(args = blobs())]
fn scan_blob(bencher: Bencher, blob: &Blob) {
    let engine = &*ENGINE;
    let configs = &*CONFIGS;
    bencher
        .counter(BytesCount::of_slice(&blob.data))
        .bench(|| engine.scan_blob(divan::black_box(blob.path), divan::black_box(&blob.data), configs));
}

/// Building the engine (rule files parsed, regexes and prefilter compiled): paid once per scan.
#[divan::bench]
fn engine_builtin() -> Engine {
    Engine::builtin(ScanOptions::default(), Identities::none())
}
