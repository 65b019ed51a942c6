//! Archives committed as blobs (`clusterconfig.tar.gz`, `backup.tgz`, `kubeconfig.gz`): their
//! members are files like any other, and a generated Talos or kubeconfig bundle is often committed
//! that way. This module only unpacks: the engine scans each member under the name
//! `archive!member`.
//!
//! Bounded by construction: at most `limit` bytes are inflated in all (a zlib bomb costs no more
//! than that), at most [`MAX_MEMBERS`] members are read, and nested archives are not opened.
//! gzip is decoded by `flate2` (already used for git objects) and tar read by the `tar` crate
//! (ustar, GNU and pax headers, long names): both well kept, and a tar reader by hand would have
//! to get those header variants right again.
use std::io::Read;

/// Most members read from one archive.
pub const MAX_MEMBERS: usize = 10_000;

/// One file inside an archive.
pub struct Member {
    /// Its path inside the archive, `/`-separated.
    pub name: String,
    /// Its bytes (whole, or cut at the archive's byte budget).
    pub data: Vec<u8>,
}

/// What unpacking gave.
pub struct Unpacked {
    /// The regular files, in archive order.
    pub members: Vec<Member>,
    /// Whether the byte or member budget cut the archive short.
    pub truncated: bool,
}

/// Whether `path` and `data` are a gzip stream or a tar archive this module opens.
pub fn is_archive(path: &str, data: &[u8]) -> bool {
    let lower = path.to_ascii_lowercase();
    let gz = data.starts_with(&[0x1f, 0x8b]) && (lower.ends_with(".gz") || lower.ends_with(".tgz"));
    gz || (lower.ends_with(".tar") && is_tar(data))
}

fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && data.get(257..262) == Some(b"ustar")
}

/// Unpacks `data` (see [`is_archive`]), inflating at most `limit` bytes. `None` when it is not a
/// readable archive after all (then it is scanned as the bytes it is).
pub fn unpack(path: &str, data: &[u8], limit: u64) -> Option<Unpacked> {
    let inner_name = |p: &str| {
        let base = p.rsplit('/').next().unwrap_or(p);
        let lower = base.to_ascii_lowercase();
        if lower.ends_with(".tgz") {
            format!("{}.tar", &base[..base.len() - 4])
        } else if lower.ends_with(".gz") {
            base[..base.len() - 3].to_owned()
        } else {
            base.to_owned()
        }
    };
    let plain: Vec<u8>;
    let mut truncated = false;
    let tar_bytes: &[u8] = if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut dec = flate2::read::MultiGzDecoder::new(data).take(limit.saturating_add(1));
        if dec.read_to_end(&mut out).is_err() && out.is_empty() {
            return None;
        }
        if out.len() as u64 > limit {
            out.truncate(limit as usize);
            truncated = true;
        }
        plain = out;
        if !is_tar(&plain) {
            // A single gzipped file.
            return Some(Unpacked {
                members: vec![Member { name: inner_name(path), data: plain }],
                truncated,
            });
        }
        &plain
    } else {
        data
    };
    let mut members = Vec::new();
    let mut archive = tar::Archive::new(tar_bytes);
    let Ok(entries) = archive.entries() else { return None };
    let mut budget = limit;
    for entry in entries {
        let Ok(mut entry) = entry else {
            // A damaged or cut header: what was read so far stands.
            truncated |= !members.is_empty();
            break;
        };
        if members.len() >= MAX_MEMBERS || budget == 0 {
            truncated = true;
            break;
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().replace('\\', "/"),
            Err(_) => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        };
        let name = name.trim_start_matches("./").to_owned();
        let mut buf = Vec::new();
        if (&mut entry).take(budget).read_to_end(&mut buf).is_err() {
            truncated = true;
        }
        budget = budget.saturating_sub(buf.len() as u64);
        if (buf.len() as u64) < entry.header().size().unwrap_or(0) {
            truncated = true;
        }
        members.push(Member { name, data: buf });
    }
    Some(Unpacked { members, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gz");
        e.finish().expect("gz")
    }

    #[test]
    fn tar_gz_members_single_gz_and_plain_tar() {
        let t = tar_of(&[("./clusterconfig/talosconfig", b"context: a\n"), ("b.txt", b"hello")]);
        let tgz = gz(&t);
        assert!(is_archive("bootstrap/talos.tar.gz", &tgz));
        let u = unpack("bootstrap/talos.tar.gz", &tgz, 1 << 20).expect("unpacks");
        let names: Vec<&str> = u.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["clusterconfig/talosconfig", "b.txt"]);
        assert_eq!(u.members[0].data, b"context: a\n");
        assert!(!u.truncated);
        let one = gz(b"apiVersion: v1\n");
        let u = unpack("x/kubeconfig.gz", &one, 1 << 20).expect("unpacks");
        assert_eq!(u.members[0].name, "kubeconfig");
        assert!(is_archive("a.tar", &t));
        assert_eq!(unpack("a.tar", &t, 1 << 20).expect("tar").members.len(), 2);
        // not archives: a name without the magic, the magic without the name
        assert!(!is_archive("a.tar.gz", b"plain text"));
        assert!(!is_archive("a.bin", &tgz));
    }

    #[test]
    fn a_bomb_costs_the_limit_and_is_marked_truncated() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = gz(&zeros);
        assert!(bomb.len() < 100_000);
        let u = unpack("z.gz", &bomb, 1 << 20).expect("unpacks");
        assert!(u.truncated);
        assert_eq!(u.members[0].data.len(), 1 << 20);
        // a damaged stream is no archive, a cut one keeps what it had
        assert!(
            unpack("z.gz", &bomb[..10], 1 << 20).is_none_or(|u| u.members.iter().all(|m| m.data.is_empty()))
        );
    }
}
