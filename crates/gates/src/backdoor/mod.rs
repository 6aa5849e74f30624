//! The `backdoor` gate.
