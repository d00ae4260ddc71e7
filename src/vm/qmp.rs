//! A QMP client for the running VM, over the unix socket QEMU opens with
//! `-qmp unix:PATH,server=on,wait=off`. The wire format and the typed
//! commands come from the `qapi` crate.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use qapi::qmp;

type Stream = qapi::Stream<BufReader<UnixStream>, UnixStream>;

/// Why talking to QEMU failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("could not reach the VM's control socket at {path}: {source}. Is the VM running?")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the VM's control socket stopped answering: {0}")]
    Io(#[from] std::io::Error),
    #[error("the VM's control socket spoke something other than QMP: {0}")]
    Protocol(String),
    #[error("QEMU refused `{command}`: {message}")]
    Refused {
        command: &'static str,
        message: String,
    },
}

/// A connection that has finished the QMP handshake.
pub struct Qmp {
    inner: qapi::Qmp<Stream>,
}

impl Qmp {
    /// Connects and negotiates capabilities. Every read and write gives up
    /// after `timeout`, so a wedged QEMU cannot hang the caller.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let stream = UnixStream::connect(path).map_err(|source| QmpError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        // The greeting is read here rather than by qapi, which panics when
        // QEMU closes the socket before greeting (it does while exiting).
        let mut greeting = String::new();
        if reader.read_line(&mut greeting)? == 0 {
            return Err(QmpError::Protocol(
                "the socket closed before QEMU greeted".into(),
            ));
        }
        let greeting: serde_json::Value =
            serde_json::from_str(&greeting).map_err(|err| QmpError::Protocol(err.to_string()))?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!(
                "unexpected greeting {greeting}"
            )));
        }
        let mut inner = qapi::Qmp::new(qapi::Stream::new(reader, stream));
        inner
            .execute(&qmp::qmp_capabilities { enable: None })
            .map_err(|err| refused("qmp_capabilities", err))?;
        Ok(Qmp { inner })
    }

    /// Presses the virtual power button: the guest shuts down cleanly and
    /// QEMU exits once it has.
    pub fn system_powerdown(&mut self) -> Result<(), QmpError> {
        self.inner
            .execute(&qmp::system_powerdown {})
            .map(drop)
            .map_err(|err| refused("system_powerdown", err))
    }

    /// Stops QEMU at once, without asking the guest.
    pub fn quit(&mut self) -> Result<(), QmpError> {
        match self.inner.execute(&qmp::quit {}) {
            Ok(_) => Ok(()),
            // QEMU may close the socket before its answer reaches us.
            Err(qapi::ExecuteError::Io(err))
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(refused("quit", err)),
        }
    }

    /// Whether the guest's CPUs are running, and QEMU's name for its state.
    pub fn status(&mut self) -> Result<(bool, String), QmpError> {
        let status = self
            .inner
            .execute(&qmp::query_status {})
            .map_err(|err| refused("query-status", err))?;
        let name = serde_json::to_value(status.status)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok((status.running, name))
    }
}

fn refused(command: &'static str, err: qapi::ExecuteError) -> QmpError {
    match err {
        qapi::ExecuteError::Io(err) => QmpError::Io(err),
        qapi::ExecuteError::Qapi(err) => QmpError::Refused {
            command,
            message: err.to_string(),
        },
    }
}
