//! Link flags for the `portcullis` binary.
//!
//! The binary stays position-independent (ASLR), but its ~75,000 relative
//! relocations are packed in the compact RELR form (`-z pack-relative-relocs`,
//! GNU ld 2.38+, glibc 2.36+) instead of 24-byte RELA entries, so the loader
//! reads 18 KB instead of 1.8 MB at every start: `portcullis --version` went
//! from 3.47 to 2.96 ms (median of 21; bench/RESULTS.md). Set
//! `PORTCULLIS_NO_RELR` to link the RELA form, e.g. with a linker that
//! rejects the flag.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_NO_RELR");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" && std::env::var_os("PORTCULLIS_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
