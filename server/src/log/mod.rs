//! The mutation log (being written).
