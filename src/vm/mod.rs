//! The builder VM: talking to QEMU, and (later) preparing and supervising it.

pub mod qmp;
