use std::path::PathBuf;

/// Why the dev VM could not be built or its runner written. Each message says
/// what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` is not installed; run `make setup` to install the dev VM's tools")]
    ToolMissing { program: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    ToolFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "the Debian kernel for the dev VM could not be found ({0}); run `apt-get update` and try again"
    )]
    KernelNotFound(String),
    #[error(
        "BUILDERBAR_DEVVM_FLAVOUR is {0:?}; set it to `nix` (the default, with Nix) or `small` (no Nix, boots faster)"
    )]
    UnknownFlavour(String),
    #[error("the dev VM build is broken: {0}; delete the cache folder and try again")]
    Broken(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
