//! The PacificA replica state machine (being written).
