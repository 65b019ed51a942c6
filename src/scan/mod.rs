//! The scan engine: one blob in, findings out.
//!
//! [`Engine::scan_blob`] is the single entry point every source uses (working tree, index, commit
//! range, history), so the same bytes give the same findings wherever they come from. It runs the
//! data rules (one aho-corasick prefilter, then each rule's regex and validator), the structural
//! detectors and the SOPS engine, then turns hits into redacted, fingerprinted
//! [`Finding`](crate::finding::Finding)s.
//!
//! One concern a module: `engine` (the pipeline of one blob and hits into findings), `report`
//! (what a scan returns: [`FileResult`], [`ScanReport`], [`Stats`]), `redact` (what a finding
//! shows of its file: redacted snippets and source lines), `suppress` (`sopsguard:allow`
//! comments) and `inventory` (the incident inventory pseudo-rule).

mod engine;
mod inventory;
mod redact;
mod report;
mod suppress;

pub use engine::{is_binary, Engine, ScanOptions};
pub use inventory::INVENTORY_RULE;
pub use redact::redact;
pub use report::{FileResult, ScanReport, Stats, MAX_FINDINGS_PER_FILE};
