//! Writing an executable and running it from a multi-threaded process
//! without "Text file busy" (ETXTBSY).
//!
//! On Linux, `execve` of a file fails with ETXTBSY while any process holds
//! it open for writing. A process that writes an executable while another
//! of its threads forks a child gives that child a copy of the write
//! descriptor, which the child keeps until its own `exec` closes it
//! (`O_CLOEXEC` acts only then). If the writer runs the file inside that
//! window, the run fails. Writing to a temporary file and renaming it does
//! not help: the rename keeps the inode the child still holds.
//!
//! So there are two tools, chosen per place:
//! - [`write`] and [`copy`] fix the cause: the bytes are written by a
//!   short-lived child process (`/bin/sh` running `cat`), so the write
//!   descriptor never exists in the calling process and no sibling fork can
//!   inherit it. The child has exited before the call returns.
//! - [`Spawn`] bounds the effect where the cause is out of reach — a file
//!   that another process wrote (cargo, a test, the CLI that installed a
//!   copy): it retries a spawn refused with ETXTBSY for up to
//!   [`BUSY_RETRY_LIMIT`]. The window lasts from a fork to its `exec`, so a
//!   retry a few milliseconds later succeeds.

mod spawn;
mod write;

pub use spawn::{BUSY_RETRY_LIMIT, Spawn, is_busy};
pub use write::{copy, write};
