//! MAC verification throughput: 1,000 generated sops files (YAML, JSON, dotenv, INI and binary in
//! rotation, 20–200 values each, one age recipient) verified with one identity, as the scanner does
//! (data-key unwrap, every value decrypted, MAC recomputed). The same files with one OpenPGP key
//! instead (Curve25519 and RSA-2048, 200 files each) say what a PGP unwrap costs.
//!
//! The scanner unwraps each distinct PGP `enc` once per run; every iteration here starts with an
//! empty cache, so each file's data key is unwrapped again, as in a scan of distinct files.
//!
//! Run: `cargo bench --bench sops_mac --features testkit`.

use std::sync::LazyLock;

use divan::counter::ItemsCount;
use divan::Bencher;
use rayon::prelude::*;
use sopsguard::sops::testkit::{self, Options, PgpKeyKind};
use sopsguard::sops::{check_file, ConfigSet, Identities, MacStatus, SopsContext, StoreKind};

struct Corpus {
    files: Vec<(String, Vec<u8>)>,
    identities: Identities,
    configs: ConfigSet,
}

/// `count` files in the five stores in rotation (20–200 values each), encrypted with the options
/// `options` gives, named `secrets/{prefix}{i}.sops.{ext}`; each is checked to verify with
/// `identities`.
fn build_corpus(
    count: usize,
    prefix: &str,
    identities: Identities,
    options: impl Fn() -> Options + Sync,
) -> Corpus {
    let kinds = [StoreKind::Yaml, StoreKind::Json, StoreKind::Dotenv, StoreKind::Ini, StoreKind::Binary];
    let ext = ["yaml", "json", "env", "ini", "bin"];
    let files: Vec<(String, Vec<u8>)> = (0..count)
        .into_par_iter()
        .map(|i| {
            let k = i % kinds.len();
            let n = 20 + (i * 37) % 181; // 20..=200 values
            let mut o = options();
            o.seed = i as u64;
            let data = testkit::encrypt(kinds[k], &plaintext(kinds[k], n, i), &o).expect("encrypt");
            (format!("secrets/{prefix}{i}.sops.{}", ext[k]), data)
        })
        .collect();
    let c = Corpus { files, identities, configs: ConfigSet::default() };
    let ctx = SopsContext { configs: &c.configs, identities: &c.identities, strict: false };
    for (p, d) in &c.files {
        assert_eq!(check_file(p, d, &ctx).mac, MacStatus::Verified, "{p}");
    }
    c
}

/// 200 files keyed to one PGP key of `kind`, in the same five stores.
fn pgp_corpus(kind: PgpKeyKind) -> Corpus {
    let (secret, _) = testkit::generate_pgp_key(kind, None);
    let identities = Identities::from_text("bench.asc", &secret).expect("pgp key");
    build_corpus(200, "p", identities, || Options::pgp(&[&secret]))
}

static PGP_25519: LazyLock<Corpus> = LazyLock::new(|| pgp_corpus(PgpKeyKind::Curve25519));
static PGP_RSA2048: LazyLock<Corpus> = LazyLock::new(|| pgp_corpus(PgpKeyKind::Rsa(2048)));

fn verify_serial(bencher: Bencher, c: &Corpus) {
    bencher.counter(ItemsCount::new(c.files.len())).bench(|| {
        c.identities.clear_cache();
        let ctx = SopsContext { configs: &c.configs, identities: &c.identities, strict: false };
        c.files.iter().filter(|(p, d)| check_file(p, d, &ctx).mac == MacStatus::Verified).count()
    });
}

fn plaintext(kind: StoreKind, n: usize, seed: usize) -> Vec<u8> {
    let mut s = String::new();
    match kind {
        StoreKind::Yaml => {
            s.push_str("apiVersion: v1\nkind: Secret\nstringData:\n");
            for i in 0..n {
                match i % 4 {
                    0 => s.push_str(&format!("    key_{i}: value-{seed}-{i}-abcdefghijklmnop\n")),
                    1 => s.push_str(&format!("    port_{i}: {}\n", 1000 + i)),
                    2 => s.push_str(&format!("    flag_{i}: {}\n", i % 3 == 0)),
                    _ => s.push_str(&format!("    ratio_{i}: {}.5\n", i)),
                }
            }
        }
        StoreKind::Json => {
            s.push_str("{\n");
            for i in 0..n {
                let sep = if i + 1 == n { "" } else { "," };
                if i % 3 == 0 {
                    s.push_str(&format!("\t\"n_{i}\": {i}{sep}\n"));
                } else {
                    s.push_str(&format!("\t\"key_{i}\": \"value-{seed}-{i}-abcdefghijklmnop\"{sep}\n"));
                }
            }
            s.push_str("}\n");
        }
        StoreKind::Dotenv => {
            for i in 0..n {
                s.push_str(&format!("KEY_{i}=value-{seed}-{i}-abcdefghijklmnop\n"));
            }
        }
        StoreKind::Ini => {
            for i in 0..n {
                if i % 10 == 0 {
                    s.push_str(&format!("[section{i}]\n"));
                }
                s.push_str(&format!("key_{i} = value-{seed}-{i}-abcdefghijklmnop\n"));
            }
        }
        StoreKind::Binary => {
            for i in 0..n {
                s.push_str(&format!("line {i} of a binary payload {seed}\n"));
            }
        }
    }
    s.into_bytes()
}

static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let (secret, recipient) = testkit::generate_identity();
    let identities = Identities::from_text("bench", &secret).expect("identity");
    build_corpus(1000, "f", identities, || Options::age(&[&recipient]))
});

fn main() {
    LazyLock::force(&CORPUS);
    LazyLock::force(&PGP_25519);
    LazyLock::force(&PGP_RSA2048);
    divan::main();
}

/// One thread.
#[divan::bench(sample_count = 10)]
fn verify_1000_files_serial(bencher: Bencher) {
    verify_serial(bencher, &CORPUS);
}

/// All cores, as the scanner runs.
#[divan::bench(sample_count = 10)]
fn verify_1000_files_parallel(bencher: Bencher) {
    let c = &*CORPUS;
    bencher.counter(ItemsCount::new(c.files.len())).bench(|| {
        c.identities.clear_cache();
        let ctx = SopsContext { configs: &c.configs, identities: &c.identities, strict: false };
        c.files.par_iter().filter(|(p, d)| check_file(p, d, &ctx).mac == MacStatus::Verified).count()
    });
}

/// The same corpus, one store at a time (200 files each), to see where time goes.
#[divan::bench(args = ["yaml", "json", "env", "ini", "bin"], sample_count = 5)]
fn verify_by_store(bencher: Bencher, ext: &str) {
    let c = &*CORPUS;
    let files: Vec<&(String, Vec<u8>)> = c.files.iter().filter(|(p, _)| p.ends_with(ext)).collect();
    bencher.counter(ItemsCount::new(files.len())).bench(|| {
        c.identities.clear_cache();
        let ctx = SopsContext { configs: &c.configs, identities: &c.identities, strict: false };
        files.iter().filter(|(p, d)| check_file(p, d, &ctx).mac == MacStatus::Verified).count()
    });
}

/// 200 files keyed to one Curve25519 (ECDH) OpenPGP key, one thread.
#[divan::bench(sample_count = 10)]
fn verify_200_pgp_curve25519_files_serial(bencher: Bencher) {
    verify_serial(bencher, &PGP_25519);
}

/// 200 files keyed to one RSA-2048 OpenPGP key, one thread.
#[divan::bench(sample_count = 10)]
fn verify_200_pgp_rsa2048_files_serial(bencher: Bencher) {
    verify_serial(bencher, &PGP_RSA2048);
}

/// Structure checks only (no identity): parsing, metadata, ENC syntax.
#[divan::bench(sample_count = 5)]
fn check_1000_files_without_identity(bencher: Bencher) {
    let c = &*CORPUS;
    let none = Identities::none();
    bencher.counter(ItemsCount::new(c.files.len())).bench(|| {
        let ctx = SopsContext { configs: &c.configs, identities: &none, strict: false };
        c.files.iter().filter(|(p, d)| check_file(p, d, &ctx).mac == MacStatus::Unverified).count()
    });
}
