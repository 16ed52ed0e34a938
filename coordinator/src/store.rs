//! The SQLite store. To be written.
