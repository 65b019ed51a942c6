#![no_main]
// The PEM validator at every BEGIN line of the input (as the rule engine calls it), and the
// base64-wrapped PEM validator at the start and at every `LS0tLS1CRUdJTi` (base64 of `-----BEGIN `).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut from = 0;
    while let Some(at) = memchr_find(&data[from..], b"-----BEGIN ") {
        let start = from + at;
        let end = data[start + 11..].windows(5).position(|w| w == b"-----").map_or(data.len(), |p| start + 11 + p + 5);
        if let Some(hit) = sopsguard::detect::validate("pem-block", "key/private-key", data, start..end, start..end) {
            let s = hit.secret.expect("a key finding carries its secret span");
            assert!(s.start <= s.end && s.end <= data.len());
        }
        from = start + 1;
    }
    let mut starts = vec![0];
    let mut from = 0;
    while let Some(at) = memchr_find(&data[from..], b"LS0tLS1CRUdJTi") {
        starts.push(from + at);
        from += at + 1;
    }
    for start in starts {
        let m = start..data.len();
        if let Some(hit) = sopsguard::detect::validate("base64-pem", "key/private-key-base64", data, m.clone(), m) {
            let s = hit.secret.expect("a key finding carries its secret span");
            assert!(s.start <= s.end && s.end <= data.len());
        }
    }
});

fn memchr_find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}
