#![no_main]
use sopsguard::sops::{fuzzing, StoreKind};
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::store(StoreKind::Json, data));
