//! sopsguard: a guardrail linter for GitOps repositories that keep Kubernetes secrets in git with
//! SOPS and age.
//!
//! Data flows one way: sources → blobs → classify → rules → findings → sort → render.
//! The library never prints; only `main.rs` does.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod archive;
pub mod baseline;
pub mod config;
pub mod detect;
pub mod finding;
pub mod fingerprint;
pub mod fsread;
pub mod hook;
pub mod incident;
pub mod masked;
pub mod report;
pub mod rules;
pub mod scan;
pub mod sops;
pub mod source;
pub mod textsafe;
pub mod yaml;
