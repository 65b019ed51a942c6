//! The one integration-test binary: runs the built `sopsguard` against directories and git
//! repositories created by each test.

mod cli;
mod examples;
mod hostile;
mod incident;
mod util;
