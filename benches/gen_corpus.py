#!/usr/bin/env python3
"""Builds the benchmark corpus for `sopsguard scan`: a GitOps-flavoured monorepo tree of about
50,000 files / 500 MB, written outside the repository.

    python3 benches/gen_corpus.py OUT_DIR [--seed 42] [--files 50000] [--mb 500]

What it holds (layout, names, sizes and contents are deterministic from the seed):
  * source-like text (Go, Rust, Python, TypeScript, Java, Markdown, shell), most of the bytes;
  * Kubernetes YAML: Deployments, Services, ConfigMaps, Flux HelmReleases with Helm values
    (`existingSecret`, `secretKeyRef`, …), Kustomizations, SealedSecrets, ExternalSecrets, Secrets
    with only `${VAR}` substitutions, multi-document files, JSON manifests;
  * SOPS-looking files: `*.sops.yaml` Secrets with `ENC[AES256_GCM,…]` values and a `sops:` block
    with age recipients and `-----BEGIN AGE ENCRYPTED FILE-----` armour, `.sops.yaml` configs,
    sops dotenv files;
  * a few binaries (random bytes with NULs, some of them containing `AGE-SECRET-KEY-1`);
  * documentation placeholders (`AGE-SECRET-KEY-1EXAMPLE…`, prose naming `BEGIN … PRIVATE KEY`);
  * a handful of planted secrets: freshly generated age identities (`age-keygen` when installed,
    else a built-in Bech32 encoder over os.urandom), private keys (`openssl`/`ssh-keygen` when
    installed, else random key-shaped base64), plaintext Secrets, a Kustomize literal and a
    decrypted copy. Key material is generated at build time and never stored in the repository.

The planted findings are listed (paths and rule ids only, no secret bytes) in
OUT_DIR/../<name>.expected.json, next to the tree, so `compare.sh` can check recall.
"""

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap

# ---------------------------------------------------------------------------------------------
# Bech32 (BIP 173), only used when age-keygen is not installed.
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def _hrp_expand(hrp):
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data, frombits, tobits):
    acc, bits, ret, maxv = 0, 0, [], (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits:
        ret.append((acc << (tobits - bits)) & maxv)
    return ret


def bech32_encode(hrp, payload):
    data = _convertbits(payload, 8, 5)
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def fresh_age_identity():
    """A fresh age identity, `AGE-SECRET-KEY-1…` (uppercase)."""
    if shutil.which("age-keygen"):
        out = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("AGE-SECRET-KEY-1"):
                return line.strip()
    return bech32_encode("age-secret-key-", os.urandom(32)).upper()


def fresh_pem_key(kind):
    """A fresh private key block: `rsa` (PKCS#1 via openssl), `pkcs8`, `ec` or `openssh`."""
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"sg-corpus-key-{os.getpid()}")
    try:
        if kind == "openssh" and shutil.which("ssh-keygen"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", tmp],
                check=True,
                capture_output=True,
            )
            with open(tmp) as f:
                return f.read()
        if kind != "openssh" and shutil.which("openssl"):
            if kind == "rsa":
                cmd = ["openssl", "genrsa", "-traditional", "2048"]
            elif kind == "ec":
                cmd = ["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout"]
            else:
                cmd = ["openssl", "genpkey", "-algorithm", "ed25519"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode == 0 and "PRIVATE KEY-----" in r.stdout:
                return r.stdout
    except (OSError, subprocess.CalledProcessError):
        pass
    finally:
        for p in (tmp, tmp + ".pub"):
            if os.path.exists(p):
                os.remove(p)
    label = {"rsa": "RSA PRIVATE KEY", "ec": "EC PRIVATE KEY", "openssh": "OPENSSH PRIVATE KEY"}.get(
        kind, "PRIVATE KEY"
    )
    body = base64.b64encode(os.urandom(1190 if kind == "rsa" else 120)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


# ---------------------------------------------------------------------------------------------
# Vocabulary.
WORDS = (
    "config server client request response handler error value result context cluster node "
    "namespace service deploy release chart values image tag replica volume mount port target "
    "metric label annotation selector match spec status ready update create delete patch list "
    "watch cache queue worker thread buffer stream reader writer parse encode decode format "
    "token session user account group role binding policy rule check verify sign hash digest "
    "backup restore snapshot storage bucket object blob commit branch merge rebase history "
    "ingress gateway route proxy tls cert issuer domain host path query header cookie timeout "
    "retry backoff limit quota budget alert probe liveness readiness startup hook job cron"
).split()
IDENT_PARTS = [w.capitalize() for w in WORDS]
APPS = (
    "authentik grafana prometheus loki tempo mimir vector home-assistant zigbee2mqtt mosquitto "
    "frigate plex jellyfin sonarr radarr prowlarr bazarr sabnzbd qbittorrent overseerr tautulli "
    "paperless immich nextcloud vaultwarden gitea forgejo woodpecker renovate cloudnative-pg dragonfly "
    "redis minio volsync external-dns cert-manager cilium coredns metallb ingress-nginx "
    "kube-prometheus-stack node-feature-discovery intel-device-plugin snapshot-controller rook-ceph "
    "openebs longhorn democratic-csi reloader descheduler spegel echo-server homepage glance "
    "atuin miniflux linkding mealie actual wikijs bookstack n8n node-red esphome unifi"
).split()


def ident(rng, n=2):
    return "".join(rng.choice(IDENT_PARTS) for _ in range(n))


def snake(rng, n=2):
    return "_".join(rng.choice(WORDS) for _ in range(n))


def kebab(rng, n=2):
    return "-".join(rng.choice(WORDS) for _ in range(n))


def sentence(rng, lo=6, hi=16):
    ws = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(ws).capitalize() + "."


def b64(rng, nbytes):
    return base64.b64encode(rng.randbytes(nbytes)).decode()


def make_line_pool(rng):
    """Pools of source-like lines per language; files are built from these (fast, still varied)."""
    pools = {}
    go = []
    for _ in range(4000):
        k = rng.randrange(10)
        if k == 0:
            go.append(f"func ({snake(rng,1)[0]} *{ident(rng)}) {ident(rng)}(ctx context.Context, {snake(rng,1)} string) error {{")
        elif k == 1:
            go.append(f"\tif err := {snake(rng,1)}.{ident(rng)}(ctx); err != nil {{")
        elif k == 2:
            go.append(f'\t\treturn fmt.Errorf("{sentence(rng,3,6)[:-1].lower()}: %w", err)')
        elif k == 3:
            go.append(f"\t{snake(rng,1)} := {ident(rng)}{{{ident(rng,1)}: {rng.randint(0, 9999)}}}")
        elif k == 4:
            go.append(f"\t// {sentence(rng)}")
        elif k == 5:
            go.append("\t}")
        elif k == 6:
            go.append(f'\tlog.Info("{sentence(rng,3,8)}", "{snake(rng,1)}", {snake(rng,1)})')
        elif k == 7:
            go.append(f"\tfor _, {snake(rng,1)} := range {snake(rng,1)}.{ident(rng)}() {{")
        elif k == 8:
            go.append("")
        else:
            go.append(f"\t{snake(rng,1)}.{ident(rng)} = {snake(rng,1)}.{ident(rng)}")
    pools["go"] = go
    rs = []
    for _ in range(4000):
        k = rng.randrange(9)
        if k == 0:
            rs.append(f"pub fn {snake(rng)}(&self, {snake(rng,1)}: &{ident(rng)}) -> Result<{ident(rng)}, Error> {{")
        elif k == 1:
            rs.append(f"    let {snake(rng,1)} = self.{snake(rng)}.get(&{snake(rng,1)})?;")
        elif k == 2:
            rs.append(f"    /// {sentence(rng)}")
        elif k == 3:
            rs.append(f"    match {snake(rng,1)} {{ {ident(rng)}::{ident(rng,1)} => {rng.randint(0,999)}, _ => 0 }}")
        elif k == 4:
            rs.append("}")
        elif k == 5:
            rs.append(f"    if {snake(rng,1)}.is_empty() {{ return Ok({ident(rng)}::default()); }}")
        elif k == 6:
            rs.append("")
        elif k == 7:
            rs.append(f"use crate::{snake(rng,1)}::{{{ident(rng)}, {ident(rng)}}};")
        else:
            rs.append(f'    tracing::debug!({snake(rng,1)} = %{snake(rng,1)}, "{sentence(rng,3,7)}");')
    pools["rs"] = rs
    py = []
    for _ in range(4000):
        k = rng.randrange(8)
        if k == 0:
            py.append(f"def {snake(rng)}(self, {snake(rng,1)}, {snake(rng,1)}=None):")
        elif k == 1:
            py.append(f"    {snake(rng,1)} = self.{snake(rng)}({snake(rng,1)}, timeout={rng.randint(1,60)})")
        elif k == 2:
            py.append(f'    """{sentence(rng)}"""')
        elif k == 3:
            py.append(f"    if not {snake(rng,1)}:\n        return {rng.choice(['None', 'False', '[]', '{}'])}")
        elif k == 4:
            py.append(f"class {ident(rng)}({ident(rng)}):")
        elif k == 5:
            py.append("")
        elif k == 6:
            py.append(f"    # {sentence(rng)}")
        else:
            py.append(f'    logger.info("{sentence(rng,3,8)} %s", {snake(rng,1)})')
    pools["py"] = py
    ts = []
    for _ in range(4000):
        k = rng.randrange(8)
        if k == 0:
            ts.append(f"export async function {snake(rng,1)}{ident(rng)}({snake(rng,1)}: {ident(rng)}): Promise<{ident(rng)}> {{")
        elif k == 1:
            ts.append(f"  const {snake(rng,1)} = await {snake(rng,1)}.{snake(rng,1)}{ident(rng,1)}({{ {snake(rng,1)}: {rng.randint(0,99)} }});")
        elif k == 2:
            ts.append(f"  // {sentence(rng)}")
        elif k == 3:
            ts.append("}")
        elif k == 4:
            ts.append(f"import {{ {ident(rng)}, {ident(rng)} }} from './{kebab(rng)}';")
        elif k == 5:
            ts.append("")
        elif k == 6:
            ts.append(f"  if (!{snake(rng,1)}) throw new Error('{sentence(rng,3,6)}');")
        else:
            ts.append(f"  return {{ ...{snake(rng,1)}, {snake(rng,1)}: {snake(rng,1)}.{snake(rng,1)} }};")
    pools["ts"] = ts
    java = []
    for _ in range(3000):
        k = rng.randrange(7)
        if k == 0:
            java.append(f"    public {ident(rng)} {snake(rng,1)}{ident(rng)}(final {ident(rng)} {snake(rng,1)}) throws {ident(rng,1)}Exception {{")
        elif k == 1:
            java.append(f"        final var {snake(rng,1)} = this.{snake(rng,1)}.{snake(rng,1)}({snake(rng,1)});")
        elif k == 2:
            java.append(f"    /** {sentence(rng)} */")
        elif k == 3:
            java.append("    }")
        elif k == 4:
            java.append(f"import org.{snake(rng,1)}.{snake(rng,1)}.{ident(rng)};")
        elif k == 5:
            java.append("")
        else:
            java.append(f'        LOG.debug("{sentence(rng,3,8)}", {snake(rng,1)});')
    pools["java"] = java
    md = []
    for _ in range(3000):
        k = rng.randrange(6)
        if k == 0:
            md.append(f"## {sentence(rng,2,5)[:-1]}")
        elif k == 1:
            md.append("")
        elif k == 2:
            md.append(f"- {sentence(rng)}")
        elif k == 3:
            md.append(f"`{kebab(rng)}` {sentence(rng,8,20)}")
        else:
            md.append(" ".join(sentence(rng) for _ in range(rng.randint(2, 5))))
    pools["md"] = md
    sh = []
    for _ in range(1500):
        k = rng.randrange(5)
        if k == 0:
            sh.append(f"kubectl -n {rng.choice(APPS)} rollout restart deploy/{rng.choice(APPS)}")
        elif k == 1:
            sh.append(f'if [[ -z "${{{snake(rng,1).upper()}:-}}" ]]; then echo "{sentence(rng,3,6)}" >&2; exit 1; fi')
        elif k == 2:
            sh.append(f"# {sentence(rng)}")
        elif k == 3:
            sh.append(f"{snake(rng,1)}=\"$({snake(rng,1)} --{kebab(rng)} {rng.randint(1,99)})\"")
        else:
            sh.append("")
    pools["sh"] = sh
    return pools


SOURCE_KINDS = [("go", "go", 6), ("rs", "rs", 5), ("py", "py", 5), ("ts", "ts", 5), ("java", "java", 3),
                ("md", "md", 3), ("sh", "sh", 1)]


_AVG_LINE = {}


def source_file(rng, pools, lang, size):
    pool = pools[lang]
    header = {
        "go": f"package {snake(rng,1)}\n\nimport (\n\t\"context\"\n\t\"fmt\"\n)\n\n",
        "rs": f"//! {sentence(rng)}\n\n",
        "py": f'"""{sentence(rng)}"""\nimport logging\n\nlogger = logging.getLogger(__name__)\n\n',
        "ts": f"// {sentence(rng)}\n",
        "java": f"package org.{snake(rng,1)}.{snake(rng,1)};\n\n",
        "md": f"# {sentence(rng,2,5)[:-1]}\n\n",
        "sh": "#!/usr/bin/env bash\nset -euo pipefail\n\n",
    }[lang]
    if lang not in _AVG_LINE:
        _AVG_LINE[lang] = sum(len(line) + 1 for line in pool) / len(pool)
    n = max(4, int(size / _AVG_LINE[lang]))
    return header + "\n".join(rng.choices(pool, k=n)) + "\n"


# ---------------------------------------------------------------------------------------------
# Kubernetes manifests.
def labels(app):
    return f"  labels:\n    app.kubernetes.io/name: {app}\n    app.kubernetes.io/instance: {app}\n"


def deployment(rng, app, ns):
    env = "".join(
        f"            - name: {snake(rng).upper()}\n              value: \"{rng.randint(0, 99999)}\"\n"
        for _ in range(rng.randint(2, 12))
    )
    secret_env = "".join(
        f"            - name: {snake(rng).upper()}\n              valueFrom:\n                secretKeyRef:\n"
        f"                  name: {app}-secret\n                  key: {snake(rng,1).upper()}\n"
        for _ in range(rng.randint(0, 4))
    )
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  namespace: {ns}\n{labels(app)}"
        f"spec:\n  replicas: {rng.randint(1, 3)}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {app}\n"
        f"  template:\n    metadata:\n{labels(app).replace('  ', '      ', 1)}    spec:\n      containers:\n"
        f"        - name: {app}\n          image: ghcr.io/{kebab(rng,1)}/{app}:{rng.randint(1,9)}.{rng.randint(0,40)}.{rng.randint(0,9)}\n"
        f"          env:\n{env}{secret_env}"
        f"          resources:\n            requests:\n              cpu: {rng.randint(5,500)}m\n              memory: {rng.randint(64,2048)}Mi\n"
    )


def service(rng, app, ns):
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\n  namespace: {ns}\n{labels(app)}"
        f"spec:\n  type: ClusterIP\n  ports:\n    - name: http\n      port: {rng.randint(80, 9999)}\n      targetPort: http\n"
        f"  selector:\n    app.kubernetes.io/name: {app}\n"
    )


def configmap(rng, app, ns):
    data = "".join(f"  {snake(rng)}: \"{kebab(rng,3)}\"\n" for _ in range(rng.randint(3, 40)))
    blob = "\n".join("    " + sentence(rng) for _ in range(rng.randint(0, 60)))
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-config\n  namespace: {ns}\ndata:\n{data}"
        f"  {snake(rng,1)}.conf: |\n{blob}\n"
    )


def helmrelease(rng, app, ns):
    values = []
    for _ in range(rng.randint(10, 60)):
        k = rng.randrange(8)
        if k == 0:
            values.append(f"    {snake(rng,1)}:\n      existingSecret: {app}-secret\n      {snake(rng,1)}: {rng.randint(0,100)}")
        elif k == 1:
            values.append(f"    {snake(rng,1)}:\n      enabled: {rng.choice(['true', 'false'])}\n      {snake(rng,1)}: \"{kebab(rng)}\"")
        elif k == 2:
            values.append(f"    # {sentence(rng)}")
        elif k == 3:
            values.append(
                f"    env:\n      {snake(rng).upper()}:\n        valueFrom:\n          secretKeyRef:\n"
                f"            name: {app}-secret\n            key: {snake(rng,1).upper()}"
            )
        elif k == 4:
            values.append(f"    {snake(rng,1)}: ${{{snake(rng).upper()}}}")
        elif k == 5:
            values.append(
                f"    ingress:\n      main:\n        className: internal\n        hosts:\n"
                f"          - host: {app}.${{SECRET_DOMAIN}}\n            paths:\n              - path: /\n"
            )
        elif k == 6:
            values.append(f"    {snake(rng,1)}: {rng.randint(0, 65535)}")
        else:
            values.append(f"    {snake(rng,1)}:\n      - {kebab(rng)}\n      - {kebab(rng)}")
    return (
        f"---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {app}\n  namespace: {ns}\n"
        f"spec:\n  interval: 30m\n  chart:\n    spec:\n      chart: app-template\n      version: 3.{rng.randint(0,7)}.{rng.randint(0,9)}\n"
        f"      sourceRef:\n        kind: HelmRepository\n        name: bjw-s\n        namespace: flux-system\n"
        f"  install:\n    remediation:\n      retries: 3\n  valuesFrom:\n    - kind: Secret\n      name: {app}-values\n"
        f"  values:\n" + "\n".join(values) + "\n"
    )


def kustomization(rng, app, files):
    res = "".join(f"  - ./{f}\n" for f in files)
    out = f"---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {app}\nresources:\n{res}"
    if rng.random() < 0.2:
        out += f"configMapGenerator:\n  - name: {app}-cm\n    literals:\n      - {snake(rng).upper()}={kebab(rng)}\n"
    if rng.random() < 0.1:
        out += f"secretGenerator:\n  - name: {app}-gen\n    envs:\n      - {app}.sops.env\n"
    return out


def flux_ks(rng, app):
    return (
        f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: &app {app}\n"
        f"  namespace: flux-system\nspec:\n  targetNamespace: {app}\n  path: ./kubernetes/apps/{app}/app\n"
        f"  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: home-kubernetes\n  decryption:\n"
        f"    provider: sops\n    secretRef:\n      name: sops-age\n  postBuild:\n    substituteFrom:\n"
        f"      - kind: Secret\n        name: cluster-secrets\n"
    )


def sealed_secret(rng, app, ns):
    data = "".join(f"    {snake(rng,1).upper()}: Ag{b64(rng, rng.randint(300, 700))}\n" for _ in range(rng.randint(1, 6)))
    return (
        f"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {app}-secret\n  namespace: {ns}\n"
        f"spec:\n  encryptedData:\n{data}  template:\n    metadata:\n      name: {app}-secret\n    type: Opaque\n"
    )


def external_secret(rng, app, ns):
    data = "".join(
        f"    {snake(rng,1).upper()}: \"{{{{ .{snake(rng,1)} }}}}\"\n" for _ in range(rng.randint(1, 6))
    )
    return (
        f"---\napiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n  name: {app}\nspec:\n"
        f"  secretStoreRef:\n    kind: ClusterSecretStore\n    name: onepassword-connect\n  target:\n    name: {app}-secret\n"
        f"    template:\n      engineVersion: v2\n      data:\n{data}  dataFrom:\n    - extract:\n        key: {app}\n"
    )


def substituted_secret(rng, app, ns):
    data = "".join(f"  {snake(rng,1).upper()}: \"${{{snake(rng).upper()}}}\"\n" for _ in range(rng.randint(1, 5)))
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {app}-subst\n  namespace: {ns}\nstringData:\n{data}"


def enc_value(rng, n):
    return (
        f"ENC[AES256_GCM,data:{b64(rng, n)},iv:{b64(rng, 32)},tag:{b64(rng, 16)},type:str]"
    )


def sops_block(rng, recipients):
    ages = "".join(
        f"        - recipient: {r}\n          enc: |\n{age_armor(rng, '            ')}" for r in recipients
    )
    return (
        f"sops:\n    kms: []\n    gcp_kms: []\n    azure_kv: []\n    hc_vault: []\n    age:\n{ages}"
        f"    lastmodified: \"2024-0{rng.randint(1,9)}-1{rng.randint(0,9)}T12:00:00Z\"\n"
        f"    mac: {enc_value(rng, 64)}\n    pgp: []\n    encrypted_regex: ^(data|stringData)$\n    version: 3.9.{rng.randint(0,4)}\n"
    )


def sops_secret(rng, app, ns, recipients):
    data = "".join(f"    {snake(rng,1).upper()}: {enc_value(rng, rng.randint(8, 120))}\n" for _ in range(rng.randint(1, 10)))
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n    name: {app}-secret\n    namespace: {ns}\ntype: Opaque\n"
        f"stringData:\n{data}" + sops_block(rng, recipients)
    )


def age_armor(rng, indent, newline="\n"):
    body = b64(rng, 240)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return newline.join(
        [f"{indent}-----BEGIN AGE ENCRYPTED FILE-----"] + [indent + l for l in lines]
        + [f"{indent}-----END AGE ENCRYPTED FILE-----", ""]
    )


def sops_env(rng, recipients):
    lines = [f"{snake(rng).upper()}={enc_value(rng, rng.randint(8, 64))}" for _ in range(rng.randint(2, 10))]
    for i, r in enumerate(recipients):
        lines.append(f"sops_age__list_{i}__map_enc={age_armor(rng, '', newline=chr(92) + 'n')}")
        lines.append(f"sops_age__list_{i}__map_recipient={r}")
    lines.append(f"sops_lastmodified=2024-05-1{rng.randint(0, 9)}T12:00:00Z")
    lines.append(f"sops_mac={enc_value(rng, 64)}")
    lines.append("sops_unencrypted_suffix=_unencrypted")
    lines.append("sops_version=3.9.0")
    return "\n".join(lines) + "\n"


def sops_config(recipients, prefix):
    """Creation rules for dotenv and YAML sops files under `prefix` (relative to the config)."""
    keys = "    key_groups:\n      - age:\n" + "".join(f"          - \"{r}\"\n" for r in recipients)
    return (
        f"---\ncreation_rules:\n  - path_regex: {prefix}.*\\.sops\\.env$\n{keys}"
        f"  - path_regex: {prefix}.*\\.sops\\.ya?ml$\n    encrypted_regex: \"^(data|stringData)$\"\n{keys}"
    )


def json_manifest(rng, app, ns):
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": app, "namespace": ns, "labels": {"app": app}},
        "data": {snake(rng): kebab(rng, 3) for _ in range(rng.randint(5, 80))},
    }
    return json.dumps(obj, indent=2) + "\n"


def json_blob(rng, size):
    items = []
    total = 0
    while total < size:
        item = {"id": rng.randint(0, 10**9), "name": kebab(rng), "description": sentence(rng),
                "tags": [rng.choice(WORDS) for _ in range(3)], "score": rng.random()}
        s = json.dumps(item)
        items.append(s)
        total += len(s) + 4
    return "[\n  " + ",\n  ".join(items) + "\n]\n"


def age_recipient(rng):
    """A well-formed age recipient (public key) from the seed: nothing secret."""
    return bech32_encode("age", rng.randbytes(32))


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="directory to create (must not exist, or be empty)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--mb", type=int, default=500, help="approximate total size in MB")
    args = ap.parse_args()

    out = os.path.abspath(args.out)
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    if out == repo or out.startswith(repo + os.sep):
        sys.exit("gen_corpus: write the corpus outside the repository")
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"gen_corpus: {out} exists and is not empty")
    os.makedirs(out, exist_ok=True)

    rng = random.Random(args.seed)
    pools = make_line_pool(rng)
    recipients = [age_recipient(rng) for _ in range(3)]
    budget = args.mb * 1_000_000
    n_files = args.files
    written = {"files": 0, "bytes": 0}
    expected = []

    def write(rel, content):
        p = os.path.join(out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        with open(p, "wb") as f:
            f.write(data)
        written["files"] += 1
        written["bytes"] += len(data)

    # Fixed shares of the file count; the source files get whatever byte budget is left.
    n_k8s_apps = n_files // 60          # each app dir: ~10 manifests
    n_binaries = 40
    n_json = n_files // 20
    n_misc = n_files // 25

    # 1. Kubernetes apps (~10 files each).
    app_names = []
    for i in range(n_k8s_apps):
        base = APPS[i % len(APPS)]
        app = base if i < len(APPS) else f"{base}-{i // len(APPS)}"
        app_names.append(app)
        ns = rng.choice(["default", "media", "home", "monitoring", "database", "security", "network", app])
        d = f"kubernetes/apps/{ns}/{app}"
        write(f"{d}/ks.yaml", flux_ks(rng, app))
        files = ["helmrelease.yaml"]
        write(f"{d}/app/helmrelease.yaml", helmrelease(rng, app, ns))
        if rng.random() < 0.5:
            write(f"{d}/app/deployment.yaml", deployment(rng, app, ns) + "---\n" + service(rng, app, ns))
            files.append("deployment.yaml")
        if rng.random() < 0.6:
            write(f"{d}/app/configmap.yaml", configmap(rng, app, ns))
            files.append("configmap.yaml")
        r = rng.random()
        if r < 0.45:
            write(f"{d}/app/secret.sops.yaml", sops_secret(rng, app, ns, recipients))
            files.append("secret.sops.yaml")
        elif r < 0.65:
            write(f"{d}/app/sealedsecret.yaml", sealed_secret(rng, app, ns))
            files.append("sealedsecret.yaml")
        elif r < 0.9:
            write(f"{d}/app/externalsecret.yaml", external_secret(rng, app, ns))
            files.append("externalsecret.yaml")
        else:
            write(f"{d}/app/secret.yaml", substituted_secret(rng, app, ns))
            files.append("secret.yaml")
        if rng.random() < 0.1:
            write(f"{d}/app/{app}.sops.env", sops_env(rng, recipients))
        if rng.random() < 0.3:
            values = helmrelease(rng, app, ns).split("  values:\n", 1)[1]
            write(f"{d}/app/values.yaml", f"# {sentence(rng)}\n" + textwrap.dedent(values))
        write(f"{d}/app/kustomization.yaml", kustomization(rng, app, files))
        if rng.random() < 0.2:
            write(f"{d}/app/README.md", source_file(rng, pools, "md", rng.randint(500, 6000)))
    write(".sops.yaml", sops_config(recipients, "kubernetes/"))
    write("kubernetes/.sops.yaml", sops_config(recipients, ""))

    # 2. JSON.
    for i in range(n_json):
        if i % 5 == 0:
            write(f"manifests/json/{i // 500:03d}/{kebab(rng)}-{i}.json", json_manifest(rng, rng.choice(APPS), "default"))
        else:
            write(f"web/fixtures/{i // 500:03d}/{snake(rng)}_{i}.json", json_blob(rng, rng.randint(500, 20000)))

    # 3. Misc text: logs, env files, docs with placeholders.
    for i in range(n_misc):
        k = i % 6
        d = f"docs/{i // 400:03d}"
        if k == 0:
            write(f"{d}/{kebab(rng)}-{i}.log", "\n".join(
                f"2024-05-{rng.randint(10,28)}T{rng.randint(10,23)}:{rng.randint(10,59)}:00Z INFO {sentence(rng)}"
                for _ in range(rng.randint(20, 200))) + "\n")
        elif k == 1:
            write(f"{d}/{kebab(rng)}-{i}.env.example",
                  "\n".join(f"{snake(rng).upper()}=" for _ in range(rng.randint(3, 20))) + "\n")
        elif k == 2:
            write(f"{d}/age-setup-{i}.md", source_file(rng, pools, "md", rng.randint(500, 4000))
                  + "\nYour key file looks like this:\n\n```\n# public key: age1...\n"
                  "AGE-SECRET-KEY-1EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE\n```\n"
                  "Paste the block that starts with -----BEGIN OPENSSH PRIVATE KEY----- into the deploy key.\n")
        elif k == 3:
            write(f"{d}/{snake(rng)}-{i}.txt", "\n".join(sentence(rng) for _ in range(rng.randint(10, 150))) + "\n")
        elif k == 4:
            write(f"{d}/{kebab(rng)}-{i}.toml", "\n".join(
                f"{snake(rng)} = \"{kebab(rng)}\"" for _ in range(rng.randint(5, 60))) + "\n")
        else:
            write(f"{d}/{kebab(rng)}-{i}.yaml", "\n".join(
                f"{snake(rng)}: {rng.randint(0, 1000)}" for _ in range(rng.randint(5, 60))) + "\n")

    # 4. Binaries: random bytes with NULs, some with an age key prefix inside.
    bin_bytes = 0
    for i in range(n_binaries):
        size = rng.randint(50_000, 1_500_000)
        data = bytearray(rng.randbytes(size))
        data[100] = 0
        if i % 10 == 0:
            at = rng.randint(1000, size - 200)
            data[at : at + 16] = b"AGE-SECRET-KEY-1"
        ext = rng.choice(["png", "jpg", "woff2", "so", "tar.gz", "sqlite"])
        write(f"assets/bin/{kebab(rng)}-{i}.{ext}", bytes(data))
        bin_bytes += size

    # 5. Planted secrets (fresh key material, generated now).
    planted = []
    age1 = fresh_age_identity()
    planted.append(("ops/keys/age.agekey",
                    f"# created: 2024-05-01T00:00:00Z\n# public key: age1notreal\n{age1}\n",
                    ["age/identity", "file/decrypted-copy"]))
    age2 = fresh_age_identity()
    planted.append(("scripts/bootstrap/.env", f"CLUSTER=home\nSOPS_AGE_KEY={age2}\n", ["age/identity"]))
    age3 = fresh_age_identity()
    planted.append(("kubernetes/flux/vars/sops-age.yaml",
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\n  namespace: flux-system\n"
                    f"stringData:\n  age.agekey: {age3}\n",
                    ["age/identity", "k8s/plaintext-secret"]))
    planted.append(("infra/terraform/deploy_key", fresh_pem_key("openssh"), ["key/private-key"]))
    tls = fresh_pem_key("rsa")
    planted.append(("kubernetes/apps/network/ingress/tls.yaml",
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: wildcard-tls\ntype: kubernetes.io/tls\n"
                    "stringData:\n  tls.crt: \"\"\n  tls.key: |\n" + "".join("    " + l + "\n" for l in tls.splitlines()),
                    ["key/private-key", "k8s/plaintext-secret"]))
    planted.append(("kubernetes/apps/database/postgres/app/secret.yaml",
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: postgres-superuser\n  namespace: database\n"
                    f"type: Opaque\ndata:\n  username: {base64.b64encode(b'postgres').decode()}\n"
                    f"  password: {base64.b64encode(os.urandom(18)).decode()}\n",
                    # One finding: the username is not a credential (only the password is reported).
                    ["k8s/plaintext-secret"]))
    planted.append(("kubernetes/apps/home/mqtt/app/kustomization.yaml",
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./helmrelease.yaml\n"
                    "secretGenerator:\n  - name: mqtt\n    literals:\n"
                    f"      - MQTT_PASSWORD={base64.b32encode(os.urandom(10)).decode().lower()}\n",
                    ["k8s/kustomize-literal"]))
    planted.append(("kubernetes/apps/security/authentik/app/secret.dec.yaml",
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: authentik\nstringData:\n"
                    f"  AUTHENTIK_SECRET_KEY: \"{base64.b64encode(os.urandom(30)).decode()}\"\n",
                    ["file/decrypted-copy", "k8s/plaintext-secret"]))
    for rel, content, rules in planted:
        write(rel, content)
        for r in rules:
            expected.append({"path": rel, "rule": r})

    # 6. Source files fill the rest of the file count and byte budget.
    n_src = max(0, n_files - written["files"])
    remaining = max(0, budget - written["bytes"])
    avg = remaining // max(1, n_src)
    weights = [w for _, _, w in SOURCE_KINDS]
    per_lang = {}
    for i in range(n_src):
        lang, ext, _ = rng.choices(SOURCE_KINDS, weights=weights)[0]
        # About 12 files per directory, 12 directories per package, as in real source trees.
        c = per_lang[lang] = per_lang.get(lang, -1) + 1
        # Sizes vary (log-uniformish) around the average.
        size = int(avg * rng.choice([0.1, 0.25, 0.5, 0.75, 1.0, 1.0, 1.25, 1.5, 1.75, 1.9]))
        d = f"src/{lang}/{WORDS[(c // 144) % len(WORDS)]}{c // (144 * len(WORDS)) or ''}/{WORDS[(c // 12) % len(WORDS)]}"
        name = snake(rng) if lang in ("py", "rs", "go") else kebab(rng)
        write(f"{d}/{name}_{i}.{ext}", source_file(rng, pools, lang, size))

    expected.sort(key=lambda e: (e["path"], e["rule"]))
    meta = {"seed": args.seed, "files": written["files"], "bytes": written["bytes"], "planted": expected}
    with open(out.rstrip("/") + ".expected.json", "w") as f:
        json.dump(meta, f, indent=2)
    print(f"gen_corpus: {written['files']} files, {written['bytes'] / 1e6:.0f} MB in {out}"
          f" ({len(expected)} planted findings listed in {out}.expected.json)")


if __name__ == "__main__":
    main()
