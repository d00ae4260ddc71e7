//! What to do about an error, in one line. Every library error that knows
//! says it through this one trait, so the CLI and the app print it the same
//! way ("hint: …" under the error, a hint field in the window).

pub trait Hint {
    /// The fix in words a non-expert understands; None when the error
    /// itself says all there is.
    fn hint(&self) -> Option<String>;
}
