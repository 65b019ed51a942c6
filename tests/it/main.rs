mod baseline;
mod config;
mod sarif;
