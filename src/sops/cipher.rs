//! The sops value cipher (`aes/cipher.go`): `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` strings,
//! AES-256-GCM with a 32-byte IV and the path as additional data, and the typed plaintext encoding.

use std::fmt;
use std::sync::LazyLock;

use aes_gcm::aead::consts::{U12, U16, U32};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use regex::Regex;
use zeroize::Zeroizing;

use super::value::{self, Scalar};

/// Go's `base64.StdEncoding` as sops uses it: padded, tolerant of non-zero trailing bits.
pub(crate) const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The `type:` of an encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EncType {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Time,
    Comment,
}

impl EncType {
    /// The name after `type:`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EncType::Str => "str",
            EncType::Int => "int",
            EncType::Float => "float",
            EncType::Bool => "bool",
            EncType::Bytes => "bytes",
            EncType::Time => "time",
            EncType::Comment => "comment",
        }
    }

    fn parse(s: &str) -> Option<EncType> {
        Some(match s {
            "str" => EncType::Str,
            "int" => EncType::Int,
            "float" => EncType::Float,
            "bool" => EncType::Bool,
            "bytes" => EncType::Bytes,
            "time" => EncType::Time,
            "comment" => EncType::Comment,
            _ => return None,
        })
    }
}

/// A parsed `ENC[…]` value. Holds ciphertext only.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EncValue {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub ty: EncType,
}

impl fmt::Debug for EncValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncValue({:?}, {} bytes)", self.ty, self.data.len())
    }
}

/// Why an `ENC[…]` string could not be parsed. Never contains the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EncParseError {
    #[error("does not match sops' ENC[AES256_GCM,data:…,iv:…,tag:…,type:…] format")]
    Format,
    #[error("its {0} field is not valid base64")]
    Base64(&'static str),
    #[error("its type is unknown")]
    UnknownType,
}

static ENC_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").expect("static regex")
});

/// Whether a string is meant to be an encrypted value (parsable or not).
pub(crate) fn looks_encrypted(s: &[u8]) -> bool {
    s.starts_with(b"ENC[")
}

fn b64(field: &'static str, s: &str) -> Result<Vec<u8>, EncParseError> {
    let cleaned: Vec<u8>;
    let input = if s.bytes().any(|b| b == b'\r' || b == b'\n') {
        cleaned = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
        &cleaned[..]
    } else {
        s.as_bytes()
    };
    GO_STD.decode(input).map_err(|_| EncParseError::Base64(field))
}

/// Splits the four fields the way the greedy, start-anchored Go regex does.
fn split_fields(s: &str) -> Option<(&str, &str, &str, &str)> {
    let line = s.split('\n').next().unwrap_or("");
    let body = line.strip_prefix("ENC[AES256_GCM,data:")?;
    // Fast path: base64 has no commas, so a well-formed value has exactly three, and the greedy
    // match is then the obvious split.
    if memchr::memchr_iter(b',', body.as_bytes()).count() == 3 {
        let mut parts = body.splitn(4, ',');
        let (data, iv, tag, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if let (Some(iv), Some(tag), Some(rest)) =
            (iv.strip_prefix("iv:"), tag.strip_prefix("tag:"), rest.strip_prefix("type:"))
        {
            let ty = &rest[..rest.rfind(']')?];
            if [data, iv, tag, ty].iter().all(|f| !f.is_empty()) {
                return Some((data, iv, tag, ty));
            }
            return None;
        }
    }
    // Anything unusual: the regex decides exactly.
    let caps = ENC_RE.captures(s)?;
    Some((caps.get(1)?.as_str(), caps.get(2)?.as_str(), caps.get(3)?.as_str(), caps.get(4)?.as_str()))
}

/// Parses an `ENC[…]` string (`aes/cipher.go:parse`).
pub(crate) fn parse_enc(s: &str) -> Result<EncValue, EncParseError> {
    let (data, iv, tag, ty) = split_fields(s).ok_or(EncParseError::Format)?;
    let ty = EncType::parse(ty).ok_or(EncParseError::UnknownType)?;
    Ok(EncValue { data: b64("data", data)?, iv: b64("iv", iv)?, tag: b64("tag", tag)?, ty })
}

/// A 32-byte data key, zeroized on drop. Its Debug output never shows the key.
#[derive(Clone)]
pub(crate) struct DataKey(pub(crate) Zeroizing<Vec<u8>>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Decryption failure of one value. Never contains plaintext or key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecryptError {
    #[error("the data key has an unusable length")]
    Key,
    #[error("authentication failed")]
    Auth,
    #[error("the decrypted value is not a valid {0}")]
    Type(&'static str),
}

/// AES-GCM over the data key for one file; the key schedule is built once.
pub(crate) struct ValueCipher {
    gcm32: AesGcm<Aes256, U32>,
    /// The key, for the rare 12- and 16-byte IVs (built on demand).
    key: DataKey,
}

impl ValueCipher {
    pub(crate) fn new(key: &DataKey) -> Result<ValueCipher, DecryptError> {
        Ok(ValueCipher {
            gcm32: AesGcm::new_from_slice(&key.0).map_err(|_| DecryptError::Key)?,
            key: key.clone(),
        })
    }

    /// Decrypts to raw plaintext bytes (zeroized on drop).
    pub(crate) fn open(&self, v: &EncValue, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        // Go's Open takes the last 16 bytes of data||tag as the tag.
        let (mut buf, tag) = if v.tag.len() == 16 {
            (
                Zeroizing::new(v.data.clone()),
                aes_gcm::Tag::<U16>::try_from(&v.tag[..]).map_err(|_| DecryptError::Auth)?,
            )
        } else {
            let mut all = Zeroizing::new(Vec::with_capacity(v.data.len() + v.tag.len()));
            all.extend_from_slice(&v.data);
            all.extend_from_slice(&v.tag);
            if all.len() < 16 {
                return Err(DecryptError::Auth);
            }
            let split = all.len() - 16;
            let tag = aes_gcm::Tag::<U16>::try_from(&all[split..]).map_err(|_| DecryptError::Auth)?;
            (Zeroizing::new(all[..split].to_vec()), tag)
        };
        let r = match v.iv.len() {
            32 => {
                let n = aes_gcm::Nonce::<U32>::try_from(&v.iv[..]).map_err(|_| DecryptError::Auth)?;
                self.gcm32.decrypt_inout_detached(&n, aad, buf.as_mut_slice().into(), &tag)
            }
            12 => {
                let n = aes_gcm::Nonce::<U12>::try_from(&v.iv[..]).map_err(|_| DecryptError::Auth)?;
                let gcm =
                    AesGcm::<Aes256, U12>::new_from_slice(&self.key.0).map_err(|_| DecryptError::Key)?;
                gcm.decrypt_inout_detached(&n, aad, buf.as_mut_slice().into(), &tag)
            }
            16 => {
                let n = aes_gcm::Nonce::<U16>::try_from(&v.iv[..]).map_err(|_| DecryptError::Auth)?;
                let gcm =
                    AesGcm::<Aes256, U16>::new_from_slice(&self.key.0).map_err(|_| DecryptError::Key)?;
                gcm.decrypt_inout_detached(&n, aad, buf.as_mut_slice().into(), &tag)
            }
            _ => return Err(DecryptError::Auth),
        };
        r.map_err(|_| DecryptError::Auth)?;
        Ok(buf)
    }

    /// Decrypts and parses to the typed value (`aes/cipher.go:Decrypt`). Comments come back as
    /// `Scalar::Str`.
    pub(crate) fn decrypt(&self, v: &EncValue, aad: &[u8]) -> Result<Zeroizing<Scalar>, DecryptError> {
        let mut plain = self.open(v, aad)?;
        let text = || std::str::from_utf8(&plain).ok();
        let s = match v.ty {
            EncType::Str | EncType::Bytes | EncType::Comment => Scalar::Str(std::mem::take(&mut *plain)),
            EncType::Int => {
                Scalar::Int(text().and_then(value::parse_go_int).ok_or(DecryptError::Type("int"))?)
            }
            EncType::Float => {
                Scalar::Float(text().and_then(value::parse_go_float).ok_or(DecryptError::Type("float"))?)
            }
            EncType::Bool => {
                Scalar::Bool(text().and_then(value::parse_go_bool).ok_or(DecryptError::Type("bool"))?)
            }
            EncType::Time => Scalar::Time(
                text()
                    .and_then(value::parse_rfc3339_nano)
                    .map(|t| t.marshal_text())
                    .ok_or(DecryptError::Type("time"))?,
            ),
        };
        Ok(Zeroizing::new(s))
    }

    /// Encrypts raw plaintext with a given IV (used by the test encryptor).
    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn seal(&self, plain: &[u8], iv: &[u8; 32], aad: &[u8], ty: &str) -> String {
        let n = aes_gcm::Nonce::<U32>::from(*iv);
        let mut buf = plain.to_vec();
        let tag = self
            .gcm32
            .encrypt_inout_detached(&n, aad, buf.as_mut_slice().into())
            .expect("AES-GCM encryption of a short value cannot fail");
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{ty}]",
            GO_STD.encode(&buf),
            GO_STD.encode(iv),
            GO_STD.encode(tag.as_slice())
        )
    }
}

impl zeroize::Zeroize for Scalar {
    fn zeroize(&mut self) {
        match self {
            Scalar::Str(s) => s.zeroize(),
            Scalar::Time(s) => s.zeroize(),
            Scalar::Int(i) => i.zeroize(),
            Scalar::Float(f) => f.zeroize(),
            Scalar::Bool(b) => b.zeroize(),
            Scalar::Null => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
        let v = parse_enc(ok).unwrap();
        assert_eq!(v.ty, EncType::Str);
        assert_eq!(v.tag.len(), 16);
        // trailing bytes after the final ] are ignored
        assert!(parse_enc(&format!("{ok}\r")).is_ok());
        assert_eq!(parse_enc("ENC[AES256_GCM,data:,iv:AAAA,tag:AAAA,type:str]"), Err(EncParseError::Format));
        assert_eq!(
            parse_enc("ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:xx]"),
            Err(EncParseError::UnknownType)
        );
        assert_eq!(
            parse_enc("ENC[AES256_GCM,data:A!AA,iv:AAAA,tag:AAAA,type:str]"),
            Err(EncParseError::Base64("data"))
        );
        assert_eq!(
            parse_enc("ENC[AES256_GCM,data:AAA,iv:AAAA,tag:AAAA,type:str]"),
            Err(EncParseError::Base64("data"))
        );
        // greedy: type extends to the last ]
        assert_eq!(
            parse_enc("ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]x]"),
            Err(EncParseError::UnknownType)
        );
        assert_eq!(parse_enc("garbage"), Err(EncParseError::Format));
    }

    #[test]
    fn round_trip() {
        let key = DataKey(Zeroizing::new(vec![7u8; 32]));
        let c = ValueCipher::new(&key).unwrap();
        let s = c.seal(b"1.50", &[3u8; 32], b"a:b:", "float");
        let v = parse_enc(&s).unwrap();
        assert_eq!(*c.decrypt(&v, b"a:b:").unwrap(), Scalar::Float(1.5));
        assert_eq!(c.decrypt(&v, b"a:").unwrap_err(), DecryptError::Auth);
        let mut bad = v.clone();
        bad.data[0] ^= 1;
        assert_eq!(c.decrypt(&bad, b"a:b:").unwrap_err(), DecryptError::Auth);
    }
}
