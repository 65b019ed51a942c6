//! The `sops` metadata block (`stores/stores.go`: struct `metadata`, `ToInternal`,
//! `internalKeygroups`), decoded with the weak typing sops ≥ 3.13 uses (strings `"true"`/`"2"` are
//! accepted for bools and ints, which INI and dotenv need).

use super::tree::{EncryptionRule, Item, Node, RuleKind, Span, Value};
use super::value::{self, Scalar};

/// The kind of a master key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// age (`age1…`, `age1pq1…`, plugins, `ssh-…`)
    Age,
    /// OpenPGP fingerprint
    Pgp,
    /// AWS KMS
    Kms,
    /// GCP KMS
    GcpKms,
    /// Azure Key Vault
    AzureKv,
    /// HashiCorp Vault transit
    HcVault,
    /// HuaweiCloud KMS
    HcKms,
}

impl KeyKind {
    /// The metadata key of this type (`age`, `pgp`, `kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Age => "age",
            KeyKind::Pgp => "pgp",
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::HcKms => "hckms",
        }
    }

    /// The order sops builds a group in (`internalGroupFrom`).
    const METADATA_ORDER: [KeyKind; 7] = [
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::HcKms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Pgp,
        KeyKind::Age,
    ];
}

/// One master key of a file: its type, its identity string (sops' `ToString`), and the wrapped
/// data key (public ciphertext).
#[derive(Clone, Debug)]
pub(crate) struct MasterKey {
    pub kind: KeyKind,
    pub id: String,
    pub enc: String,
    /// Span of the identifying value (recipient, fingerprint, arn…), for diagnostics.
    pub span: Span,
}

/// A decoded metadata block.
#[derive(Debug)]
pub(crate) struct Metadata {
    /// The stored `lastmodified` string and the AAD of the MAC (`Format(RFC3339)` of it).
    pub lastmodified_aad: Option<String>,
    pub mac: Option<(String, Span)>,
    pub version: Option<String>,
    /// The encryption rule written in the file, if any.
    pub explicit_rule: Option<(RuleKind, String, Span)>,
    /// The rule in force (the explicit one, or `unencrypted_suffix: _unencrypted`).
    pub rule: EncryptionRule,
    pub mac_only_encrypted: bool,
    pub shamir_threshold: i64,
    pub groups: Vec<Vec<MasterKey>>,
    /// Structural problems (`sops/malformed`). `fatal` ones stop sops from loading the file.
    pub problems: Vec<Problem>,
}

/// A metadata problem.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub message: String,
    pub span: Span,
    pub fatal: bool,
}

impl Metadata {
    /// Whether sops could load the file at all.
    pub(crate) fn loadable(&self) -> bool {
        !self.problems.iter().any(|p| p.fatal)
    }
}

fn get<'a>(items: &'a [Item], key: &str) -> Option<&'a Node> {
    // mapstructure decodes from a Go map: the last duplicate wins.
    items.iter().rev().find_map(|i| match i {
        Item::Pair { key: k, value, .. } if k == key => Some(value),
        _ => None,
    })
}

fn as_map(n: &Node) -> Option<&[Item]> {
    match &n.value {
        Value::Map(items) => Some(items),
        _ => None,
    }
}

fn as_list(n: &Node) -> Option<Vec<&Node>> {
    match &n.value {
        Value::List(items) => Some(
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Elem(n) => Some(n),
                    _ => None,
                })
                .collect(),
        ),
        Value::Scalar(Scalar::Null) => Some(Vec::new()),
        _ => None,
    }
}

/// A string field, weakly typed like mapstructure. `Ok(None)` when absent or null.
fn string_field(items: &[Item], key: &str) -> Result<Option<(String, Span)>, Span> {
    let Some(n) = get(items, key) else { return Ok(None) };
    let s = match &n.value {
        Value::Scalar(Scalar::Null) => return Ok(None),
        Value::Scalar(Scalar::Str(b)) => String::from_utf8_lossy(b).into_owned(),
        Value::Scalar(Scalar::Time(t)) => t.clone(),
        Value::Scalar(Scalar::Int(i)) => i.to_string(),
        Value::Scalar(Scalar::Float(f)) => value::format_float(*f),
        Value::Scalar(Scalar::Bool(b)) => if *b { "1" } else { "0" }.to_owned(),
        _ => return Err(n.span.clone()),
    };
    Ok(Some((s, n.span.clone())))
}

fn bool_field(items: &[Item], key: &str) -> Result<bool, Span> {
    let Some(n) = get(items, key) else { return Ok(false) };
    match &n.value {
        Value::Scalar(Scalar::Null) => Ok(false),
        Value::Scalar(Scalar::Bool(b)) => Ok(*b),
        Value::Scalar(Scalar::Int(i)) => Ok(*i != 0),
        Value::Scalar(Scalar::Str(s)) if s.is_empty() => Ok(false),
        Value::Scalar(Scalar::Str(s)) => {
            std::str::from_utf8(s).ok().and_then(value::parse_go_bool).ok_or_else(|| n.span.clone())
        }
        _ => Err(n.span.clone()),
    }
}

fn int_field(items: &[Item], key: &str) -> Result<i64, Span> {
    let Some(n) = get(items, key) else { return Ok(0) };
    match &n.value {
        Value::Scalar(Scalar::Null) => Ok(0),
        Value::Scalar(Scalar::Int(i)) => Ok(*i),
        Value::Scalar(Scalar::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(*f as i64),
        Value::Scalar(Scalar::Bool(b)) => Ok(i64::from(*b)),
        Value::Scalar(Scalar::Str(s)) if s.is_empty() => Ok(0),
        Value::Scalar(Scalar::Str(s)) => {
            std::str::from_utf8(s).ok().and_then(value::parse_go_int).ok_or_else(|| n.span.clone())
        }
        _ => Err(n.span.clone()),
    }
}

/// Decodes the metadata node.
pub(crate) fn decode(node: &Node) -> Metadata {
    let mut problems = Vec::new();
    let mut md = Metadata {
        lastmodified_aad: None,
        mac: None,
        version: None,
        explicit_rule: None,
        rule: EncryptionRule::default_rule(),
        mac_only_encrypted: false,
        shamir_threshold: 0,
        groups: Vec::new(),
        problems: Vec::new(),
    };
    let Some(items) = as_map(node) else {
        md.problems.push(Problem {
            message: "the sops metadata is not a mapping".into(),
            span: node.span.clone(),
            fatal: true,
        });
        return md;
    };
    let bad_type = |key: &str, span: Span, fatal: bool, problems: &mut Vec<Problem>| {
        problems.push(Problem { message: format!("metadata field `{key}` has the wrong type"), span, fatal });
    };

    match string_field(items, "lastmodified") {
        Ok(Some((s, span))) => match value::parse_rfc3339_nano(&s) {
            Some(t) => md.lastmodified_aad = Some(t.format_rfc3339()),
            None => problems.push(Problem {
                message: "metadata `lastmodified` is not an RFC 3339 timestamp".into(),
                span,
                fatal: true,
            }),
        },
        Ok(None) => problems.push(Problem {
            message: "metadata has no `lastmodified`".into(),
            span: node.span.clone(),
            fatal: true,
        }),
        Err(span) => bad_type("lastmodified", span, true, &mut problems),
    }
    match string_field(items, "mac") {
        Ok(Some((s, span))) if !s.is_empty() => md.mac = Some((s, span)),
        Ok(_) => {}
        Err(span) => bad_type("mac", span, true, &mut problems),
    }
    match string_field(items, "version") {
        Ok(Some((s, span))) => {
            if !value::is_acceptable_version(&s) {
                problems.push(Problem {
                    message: "metadata `version` is not a semantic version".into(),
                    span,
                    fatal: false,
                });
            }
            md.version = Some(s);
        }
        Ok(None) => problems.push(Problem {
            message: "metadata has no `version`".into(),
            span: node.span.clone(),
            fatal: false,
        }),
        Err(span) => bad_type("version", span, false, &mut problems),
    }
    let mut rules = Vec::new();
    for kind in RuleKind::ALL {
        match string_field(items, kind.key()) {
            Ok(Some((s, span))) if !s.is_empty() => rules.push((kind, s, span)),
            Ok(_) => {}
            Err(span) => bad_type(kind.key(), span, true, &mut problems),
        }
    }
    if rules.len() > 1 {
        let names: Vec<&str> = rules.iter().map(|r| r.0.key()).collect();
        problems.push(Problem {
            message: format!("metadata sets more than one encryption rule ({})", names.join(", ")),
            span: rules[1].2.clone(),
            fatal: true,
        });
    }
    if let Some((kind, v, span)) = rules.into_iter().next() {
        md.rule = EncryptionRule::new(kind, &v);
        md.explicit_rule = Some((kind, v, span));
    }
    match bool_field(items, "mac_only_encrypted") {
        Ok(b) => md.mac_only_encrypted = b,
        Err(span) => bad_type("mac_only_encrypted", span, true, &mut problems),
    }
    match int_field(items, "shamir_threshold") {
        Ok(t) => md.shamir_threshold = t,
        Err(span) => bad_type("shamir_threshold", span, true, &mut problems),
    }

    // Key groups: the flat lists make one group when any is non-empty; otherwise `key_groups`.
    let flat = group_from(items, &mut problems);
    if !flat.is_empty() {
        md.groups.push(flat);
    } else if let Some(kg) = get(items, "key_groups") {
        match as_list(kg) {
            Some(groups) => {
                for g in groups {
                    match as_map(g) {
                        Some(gi) => md.groups.push(group_from(gi, &mut problems)),
                        None => bad_type("key_groups", g.span.clone(), true, &mut problems),
                    }
                }
            }
            None => bad_type("key_groups", kg.span.clone(), true, &mut problems),
        }
    }
    if md.groups.iter().all(|g| g.is_empty()) {
        problems.push(Problem {
            message: "metadata lists no keys".into(),
            span: node.span.clone(),
            fatal: true,
        });
    }
    md.problems = problems;
    md
}

fn req(
    entry: &[Item],
    key: &str,
    kind: KeyKind,
    problems: &mut Vec<Problem>,
    span: &Span,
) -> Option<(String, Span)> {
    match string_field(entry, key) {
        Ok(v) => v,
        Err(s) => {
            problems.push(Problem {
                message: format!("metadata field `{}.{key}` has the wrong type", kind.as_str()),
                span: s,
                fatal: true,
            });
            let _ = span;
            None
        }
    }
}

fn group_from(items: &[Item], problems: &mut Vec<Problem>) -> Vec<MasterKey> {
    let mut out = Vec::new();
    for kind in KeyKind::METADATA_ORDER {
        let Some(list) = get(items, kind.as_str()) else { continue };
        let Some(entries) = as_list(list) else {
            problems.push(Problem {
                message: format!("metadata field `{}` is not a list", kind.as_str()),
                span: list.span.clone(),
                fatal: true,
            });
            continue;
        };
        for e in entries {
            let Some(entry) = as_map(e) else {
                problems.push(Problem {
                    message: format!("an entry of `{}` is not a mapping", kind.as_str()),
                    span: e.span.clone(),
                    fatal: true,
                });
                continue;
            };
            let f = |k: &str, problems: &mut Vec<Problem>| req(entry, k, kind, problems, &e.span);
            let enc = f("enc", problems).map(|x| x.0).unwrap_or_default();
            if kind != KeyKind::Age {
                match f("created_at", problems) {
                    Some((s, span)) if value::parse_rfc3339_nano(&s).is_none() => problems.push(Problem {
                        message: format!("`{}` key has an invalid created_at", kind.as_str()),
                        span,
                        fatal: true,
                    }),
                    Some(_) => {}
                    None => problems.push(Problem {
                        message: format!("`{}` key has no created_at", kind.as_str()),
                        span: e.span.clone(),
                        fatal: true,
                    }),
                }
            }
            let s = |k: &str, problems: &mut Vec<Problem>| f(k, problems).map(|x| x.0).unwrap_or_default();
            let (id, span) = match kind {
                KeyKind::Age => f("recipient", problems).unwrap_or_else(|| (String::new(), e.span.clone())),
                KeyKind::Pgp => f("fp", problems).unwrap_or_else(|| (String::new(), e.span.clone())),
                KeyKind::GcpKms => {
                    f("resource_id", problems).unwrap_or_else(|| (String::new(), e.span.clone()))
                }
                KeyKind::HcKms => f("key_id", problems).unwrap_or_else(|| (String::new(), e.span.clone())),
                KeyKind::Kms => {
                    let arn = s("arn", problems);
                    let role = s("role", problems);
                    let profile = s("aws_profile", problems);
                    let mut ctx: Vec<(String, String)> = Vec::new();
                    if let Some(c) = get(entry, "context").and_then(as_map) {
                        for i in c {
                            if let Item::Pair {
                                key,
                                value: Node { value: Value::Scalar(Scalar::Str(v)), .. },
                                ..
                            } = i
                            {
                                ctx.push((key.clone(), String::from_utf8_lossy(v).into_owned()));
                            }
                        }
                    }
                    (
                        kms_id(&arn, &role, &ctx, &profile),
                        get(entry, "arn").map_or(e.span.clone(), |n| n.span.clone()),
                    )
                }
                KeyKind::AzureKv => (
                    format!(
                        "{}/keys/{}/{}",
                        s("vault_url", problems),
                        s("name", problems),
                        s("version", problems)
                    ),
                    get(entry, "vault_url").map_or(e.span.clone(), |n| n.span.clone()),
                ),
                KeyKind::HcVault => (
                    format!(
                        "{}/v1/{}/keys/{}",
                        s("vault_address", problems),
                        s("engine_path", problems),
                        s("key_name", problems)
                    ),
                    get(entry, "vault_address").map_or(e.span.clone(), |n| n.span.clone()),
                ),
            };
            out.push(MasterKey { kind, id, enc, span });
        }
    }
    out
}

/// `kms.MasterKey.ToString`.
pub(crate) fn kms_id(arn: &str, role: &str, ctx: &[(String, String)], profile: &str) -> String {
    let a = if role.is_empty() { arn.to_owned() } else { format!("{arn}+{role}") };
    let mut pairs: Vec<&(String, String)> = ctx.iter().collect();
    pairs.sort();
    let c = pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    if !profile.is_empty() {
        format!("{a}|{c}|{profile}")
    } else if !c.is_empty() {
        format!("{a}|{c}")
    } else {
        a
    }
}
