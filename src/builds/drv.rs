//! Just enough of a `.drv` (Nix's ATerm) to know a derivation's system and
//! outputs: `Derive([("out","/nix/store/…","","")…],[…],[…],"system",…)`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivation {
    pub system: String,
    /// (output name, store path); the path is empty for floating outputs.
    pub outputs: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("not a derivation Nix wrote: {0}")]
pub struct ParseError(&'static str);

/// Parses the start of a `.drv`: outputs, input derivations, input sources
/// and the system.
pub fn parse(text: &str) -> Result<Derivation, ParseError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.lit("Derive(")?;
    let mut outputs = Vec::new();
    p.list(|p| {
        p.lit("(")?;
        let name = p.string()?;
        p.lit(",")?;
        let path = p.string()?;
        p.lit(",")?;
        p.string()?;
        p.lit(",")?;
        p.string()?;
        p.lit(")")?;
        outputs.push((name, path));
        Ok(())
    })?;
    p.lit(",")?;
    p.skip_value()?;
    p.lit(",")?;
    p.skip_value()?;
    p.lit(",")?;
    let system = p.string()?;
    Ok(Derivation { system, outputs })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn lit(&mut self, lit: &str) -> Result<(), ParseError> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(ParseError("unexpected text"))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.lit("\"")?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or(ParseError("unterminated string"))?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or(ParseError("unterminated escape"))?;
                    self.i += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|_| ParseError("a string is not UTF-8"))
    }

    fn list(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        self.lit("[")?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(ParseError("a list does not close")),
            }
        }
    }

    /// Skips one string, list or tuple.
    fn skip_value(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'[') => self.list(|p| p.skip_value()),
            Some(b'(') => {
                self.i += 1;
                loop {
                    self.skip_value()?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b')') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(ParseError("a tuple does not close")),
                    }
                }
            }
            _ => Err(ParseError("unexpected value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_system_and_outputs() {
        let drv = r#"Derive([("out","/nix/store/abc-fail","","")],[("/nix/store/x-dep.drv",["out"])],["/nix/store/y-src"],"x86_64-linux","/bin/sh",["-c","echo \"hi\"; exit 1"],[("name","fail")])"#;
        let d = parse(drv).unwrap();
        assert_eq!(d.system, "x86_64-linux");
        assert_eq!(
            d.outputs,
            vec![("out".into(), "/nix/store/abc-fail".into())]
        );
        assert!(parse("nonsense").is_err());
    }
}
