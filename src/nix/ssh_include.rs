//! Whether root's ssh reads our `/etc/ssh/ssh_config.d/200-builderbar.conf`
//! at all: OpenSSH reads only `/etc/ssh/ssh_config`, and the folder counts
//! only through an `Include` line there. Apple's own file has one (and
//! nix-darwin's linux-builder relies on it too), Debian's as well; a config
//! replaced by a company's management profile may not, and then every
//! remote build fails with "Could not resolve hostname".

use std::path::Path;

use super::plan::Layout;

/// The `Include` lines of the system-wide file cover our file.
pub fn includes_ours(layout: &Layout) -> Result<(), String> {
    let main = layout.path("/etc/ssh/ssh_config");
    let text = std::fs::read_to_string(&main).map_err(|_| {
        format!(
            "{} is missing, so ssh reads no system-wide settings",
            main.display()
        )
    })?;
    let ours = layout.ssh_config();
    let covered = text
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            let (keyword, rest) = line.split_once(|c: char| c.is_whitespace() || c == '=')?;
            keyword.eq_ignore_ascii_case("include").then_some(rest)
        })
        .flat_map(|rest| rest.trim_start_matches(['=', ' ', '\t']).split_whitespace())
        .any(|pattern| covers(layout, pattern, &ours));
    if covered {
        Ok(())
    } else {
        Err(format!(
            "{} has no Include line for {}, so ssh never reads BuilderBar's alias",
            main.display(),
            ours.display()
        ))
    }
}

/// An Include pattern (relative ones are under /etc/ssh, as OpenSSH reads
/// them for the system-wide file) that names `file`.
fn covers(layout: &Layout, pattern: &str, file: &Path) -> bool {
    let absolute = if pattern.starts_with('/') {
        layout.path(pattern)
    } else {
        layout.path("/etc/ssh").join(pattern)
    };
    let (Some(dir), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        return false;
    };
    let (Some(file_dir), Some(file_name)) = (file.parent(), file.file_name()) else {
        return false;
    };
    dir == file_dir && wildcard(&name.to_string_lossy(), &file_name.to_string_lossy())
}

/// `*` and `?` as in OpenSSH's glob of file names.
fn wildcard(pattern: &str, name: &str) -> bool {
    match (pattern.chars().next(), name.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            wildcard(&pattern[1..], name)
                || name
                    .chars()
                    .next()
                    .is_some_and(|c| wildcard(pattern, &name[c.len_utf8()..]))
        }
        (Some('?'), Some(c)) => wildcard(&pattern[1..], &name[c.len_utf8()..]),
        (Some(p), Some(c)) if p == c => wildcard(&pattern[p.len_utf8()..], &name[c.len_utf8()..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_with(config: Option<&str>) -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = config {
            std::fs::create_dir_all(dir.path().join("etc/ssh")).unwrap();
            std::fs::write(dir.path().join("etc/ssh/ssh_config"), text).unwrap();
        }
        let layout = Layout::new(dir.path());
        (dir, layout)
    }

    #[test]
    fn apples_and_debians_include_lines_cover_our_file() {
        for text in [
            "# This is the ssh client system-wide configuration file.\nInclude /etc/ssh/ssh_config.d/*\n\nHost *\n",
            "Include /etc/ssh/ssh_config.d/*.conf\n",
            "  include   ssh_config.d/*\n",
            "Include=/etc/ssh/ssh_config.d/2*-builderbar.conf\n",
        ] {
            let (_dir, layout) = layout_with(Some(text));
            assert_eq!(includes_ours(&layout), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn a_file_without_the_include_or_no_file_fails_with_the_reason() {
        for text in [
            Some("Host *\n  SendEnv LANG LC_*\n"),
            Some("# Include /etc/ssh/ssh_config.d/*\n"),
            Some("Include /etc/ssh/other.d/*\n"),
            Some("Include /etc/ssh/ssh_config.d/*.cfg\n"),
            None,
        ] {
            let (_dir, layout) = layout_with(text);
            let err = includes_ours(&layout).unwrap_err();
            assert!(err.contains("ssh_config"), "{err}");
        }
    }

    #[test]
    fn wildcards_match_like_openssh() {
        assert!(wildcard("*", "200-builderbar.conf"));
        assert!(wildcard("*.conf", "200-builderbar.conf"));
        assert!(wildcard("2??-*", "200-builderbar.conf"));
        assert!(!wildcard("*.conf", "200-builderbar.config"));
        assert!(!wildcard("1*", "200-builderbar.conf"));
    }
}
