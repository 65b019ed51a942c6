//! Working-tree source (gitignore-aware walk).
