#![no_main]
//! Fuzzes the safetensors parser: any input must end in findings, never a panic or hang.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portcullis_scan::fuzzing::safetensors(data);
});
