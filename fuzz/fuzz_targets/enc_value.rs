#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sopsguard::sops::fuzzing::enc_value(data));
