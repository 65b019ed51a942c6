//! The one integration-test binary: runs the built `sopsguard` against directories and git
//! repositories created by each test.

mod baseline;
mod cli;
mod config;
mod differential;
mod examples;
mod git;
mod hook;
mod hostile;
mod incident;
mod precision;
mod recall;
mod sarif;
mod util;
