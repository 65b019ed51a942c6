//! Tests of the git sources over repositories built with the real `git`.
