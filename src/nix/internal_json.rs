//! Reading Nix's `--log-format internal-json` (stderr lines `@nix {json}`,
//! as libutil's logging.hh defines them): the download's byte count, the
//! build's own log lines, which builds start where, and the messages for
//! people. Checked against Nix 2.8's output here (tests below) and Nix's
//! activity and result numbers, which have not changed since.

/// How far the (first, large) download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes copied into the store so far.
    pub done: u64,
    /// Bytes expected in all.
    pub expected: u64,
}

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Progress(Progress),
    /// A line a derivation's builder printed (`resBuildLogLine`).
    BuildLine(String),
    /// A derivation's build began (`actBuild`): "building '…drv' on
    /// 'ssh-ng://…'" names the machine when it is remote.
    BuildStarted(String),
    /// A message for people (errors and warnings).
    Message(String),
    Nothing,
}

/// `actCopyPaths`: its progress results count bytes.
const ACT_COPY_PATHS: u64 = 103;
/// `actBuild`: fields are the derivation and the machine.
const ACT_BUILD: u64 = 105;
/// `resBuildLogLine`: field 0 is the line.
const RES_BUILD_LOG_LINE: u64 = 101;
/// `resProgress`: `[done, expected, running, failed]`.
const RES_PROGRESS: u64 = 105;

/// Follows the activities of one Nix command's stderr.
#[derive(Debug, Default)]
pub struct ProgressParser {
    copy_ids: Vec<u64>,
}

impl ProgressParser {
    pub fn line(&mut self, line: &str) -> Parsed {
        let Some(json) = line.strip_prefix("@nix ") else {
            return if line.trim().is_empty() {
                Parsed::Nothing
            } else {
                Parsed::Message(printable(line))
            };
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
            return Parsed::Nothing;
        };
        let id = value["id"].as_u64();
        let kind = value["type"].as_u64();
        match value["action"].as_str() {
            Some("start") if kind == Some(ACT_COPY_PATHS) => {
                if let Some(id) = id {
                    self.copy_ids.push(id);
                }
                Parsed::Nothing
            }
            Some("start") if kind == Some(ACT_BUILD) => {
                Parsed::BuildStarted(printable(value["text"].as_str().unwrap_or("")))
            }
            Some("result")
                if kind == Some(RES_PROGRESS)
                    && id.is_some_and(|id| self.copy_ids.contains(&id)) =>
            {
                let field = |i: usize| value["fields"][i].as_u64().unwrap_or(0);
                Parsed::Progress(Progress {
                    done: field(0),
                    expected: field(1),
                })
            }
            Some("result") if kind == Some(RES_BUILD_LOG_LINE) => {
                let text = printable(value["fields"][0].as_str().unwrap_or(""));
                if text.is_empty() {
                    Parsed::Nothing
                } else {
                    Parsed::BuildLine(text)
                }
            }
            Some("msg") if value["level"].as_u64().is_some_and(|l| l <= 1) => {
                Parsed::Message(printable(value["msg"].as_str().unwrap_or("")))
            }
            _ => Parsed::Nothing,
        }
    }
}

/// `text` without terminal colours and control characters: Nix colours
/// its messages, and a builder may print anything.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final letter.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}

/// Each line of `text` made [`printable`], without empty ones and Nix's
/// warnings.
pub fn printable_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(printable)
        .filter(|l| !l.trim().is_empty() && !l.starts_with("warning: "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_progress_is_followed() {
        let mut p = ProgressParser::default();
        assert_eq!(
            p.line(r#"@nix {"action":"start","id":7,"level":0,"type":103,"text":"","fields":[],"parent":0}"#),
            Parsed::Nothing
        );
        assert_eq!(
            p.line(r#"@nix {"action":"result","id":7,"type":105,"fields":[10,100,1,0]}"#),
            Parsed::Progress(Progress {
                done: 10,
                expected: 100
            })
        );
        assert_eq!(
            p.line(r#"@nix {"action":"result","id":8,"type":105,"fields":[1,2,0,0]}"#),
            Parsed::Nothing
        );
    }

    /// Lines as Nix 2.8 (Debian's nix-bin) printed them for a build here.
    #[test]
    fn build_lines_and_messages_are_read_without_colours() {
        let mut p = ProgressParser::default();
        assert_eq!(
            p.line(r#"@nix {"action":"start","fields":["/nix/store/abc-x.drv","ssh-ng://builderbar-builder",1,1],"id":9,"level":3,"parent":0,"text":"building '\u001b[35;1m/nix/store/abc-x.drv\u001b[0m' on '\u001b[35;1mssh-ng://builderbar-builder\u001b[0m'","type":105}"#),
            Parsed::BuildStarted(
                "building '/nix/store/abc-x.drv' on 'ssh-ng://builderbar-builder'".into()
            )
        );
        assert_eq!(
            p.line(r#"@nix {"action":"result","fields":["hello\tline"],"id":9,"type":101}"#),
            Parsed::BuildLine("hello line".into())
        );
        assert_eq!(
            p.line(r#"@nix {"action":"result","fields":["\u0001"],"id":9,"type":101}"#),
            Parsed::Nothing
        );
        assert_eq!(
            p.line(r#"@nix {"action":"msg","column":null,"file":null,"level":0,"line":null,"msg":"\u001b[31;1merror:\u001b[0m builder for '\u001b[35;1m/nix/store/c9-x2.drv\u001b[0m' failed with exit code 1","raw_msg":"x"}"#),
            Parsed::Message("error: builder for '/nix/store/c9-x2.drv' failed with exit code 1".into())
        );
        assert_eq!(
            p.line(r#"@nix {"action":"msg","level":3,"msg":"this derivation will be built:"}"#),
            Parsed::Nothing
        );
        assert_eq!(p.line("plain words"), Parsed::Message("plain words".into()));
    }
}
