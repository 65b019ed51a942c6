//! Diagnostics about files that steer a scan (`.sopsguard.toml`, rule files, baselines) never quote
//! what is in them: such a file may be something else than it claims (a key file passed as
//! `--config`, a symbolic link planted in the repository), and a CI log is public.
//!
//! A diagnostic still points at the right place: the source it shows is the file with every word
//! that is not part of the format's own vocabulary (its keys, its keywords, rule ids) replaced by
//! `*`, byte for byte, so spans, line and column numbers stay exact. Messages quote only such
//! vocabulary; any other quoted text becomes `…`.

/// Whether a byte separates words in a masked source: white space and the punctuation of TOML,
/// YAML and JSON.
fn is_structural(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b'\n' | b'=' | b'[' | b']' | b'{' | b'}' | b',' | b'"' | b'\'' | b'#' | b':'
    )
}

/// `text` with every word for which `keep` is false replaced by `*` (one per byte).
pub fn mask_source(text: &str, keep: &dyn Fn(&str) -> bool) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if is_structural(bytes[i]) {
            out.push(bytes[i] as char);
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_structural(bytes[i]) {
            i += 1;
        }
        // Word boundaries are ASCII bytes, so `start..i` is on character boundaries.
        let word = &text[start..i];
        if keep(word) && !word.chars().any(char::is_control) {
            out.push_str(word);
        } else {
            out.extend(std::iter::repeat_n('*', i - start));
        }
    }
    out
}

/// `message` with every `` `quoted` `` part for which `keep` is false replaced by `` `…` ``, and
/// control characters removed.
pub fn scrub_quotes(message: &str, keep: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) => {
                let inner = &after[..close];
                out.push('`');
                out.push_str(if keep(inner) && !inner.chars().any(char::is_control) { inner } else { "…" });
                out.push('`');
                rest = &after[close + 1..];
            }
            None => {
                // An unbalanced quote: drop what follows it, it may be content.
                out.push_str("`…");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_everything_but_the_vocabulary_and_keeps_offsets() {
        let keep = |w: &str| matches!(w, "exclude" | "rules");
        let text = "exclude = [\"AGE-SECRET-KEY-1XYZ\"]\n[rules]\nhunter2 = 1\n";
        let m = mask_source(text, &keep);
        assert_eq!(m.len(), text.len());
        assert_eq!(m, "exclude = [\"*******************\"]\n[rules]\n******* = *\n");
        let m = mask_source("ключ = 1", &keep);
        assert_eq!(m.len(), "ключ = 1".len());
    }

    #[test]
    fn scrubs_quoted_content() {
        let keep = |w: &str| w == "max-file-size";
        assert_eq!(
            scrub_quotes("`ghp_x` is not a size for `max-file-size`", &keep),
            "`…` is not a size for `max-file-size`"
        );
        assert_eq!(scrub_quotes("duplicate key `a\nb", &keep), "duplicate key `…");
    }
}
