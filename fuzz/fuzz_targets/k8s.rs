#![no_main]
// The Kubernetes detector on any text, and on the same text behind a `kind: Secret` header.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut hits = Vec::new();
    let _ = sopsguard::detect::k8s::check("app/secret.yaml", text, &mut hits);
    let text = format!("apiVersion: v1\nkind: Secret\n{text}");
    let _ = sopsguard::detect::k8s::check("app/secret.yaml", &text, &mut hits);
    for h in &hits {
        assert!(h.span.end <= text.len().max(data.len()));
    }
});
