//! Our marked block in a file we did not create: the only way BuilderBar
//! edits someone else's file. Adding, replacing and removing it, and reading
//! what is inside or outside it, all go through [`block_range`].

/// The lines around what we add to a file we did not create. No `;` in
/// it: Nix splits /etc/nix/machines at `;` as well as at newlines before it
/// drops `#` comments, so a `;` turns the rest of the line into a machine
/// ("bad machine specification").
pub const BEGIN_MARK: &str =
    "# BEGIN builderbar (managed by BuilderBar, `builderbar uninstall` removes it)";
/// The mark written before it, still recognised so that older blocks are
/// replaced and removed.
const OLD_BEGIN_MARK: &str =
    "# BEGIN builderbar (managed by BuilderBar; `builderbar uninstall` removes it)";
/// The end of our block.
pub const END_MARK: &str = "# END builderbar";

/// `text` with our block holding `content`: replaced in place when the
/// marks are there, else appended (after a newline if the text lacks one).
pub fn with_block(text: &str, content: &str) -> String {
    let mut block = format!("{BEGIN_MARK}\n{content}");
    if !block.ends_with('\n') {
        block.push('\n');
    }
    block.push_str(END_MARK);
    block.push('\n');
    if let Some((start, end)) = block_range(text) {
        return format!("{}{block}{}", &text[..start], &text[end..]);
    }
    if text.is_empty() || text.ends_with('\n') {
        format!("{text}{block}")
    } else {
        format!("{text}\n{block}")
    }
}

/// `text` without our block (and without the newline we added, if any).
pub fn without_block(text: &str, added_newline: bool) -> String {
    let Some((start, end)) = block_range(text) else {
        return text.to_owned();
    };
    let mut out = format!("{}{}", &text[..start], &text[end..]);
    if added_newline && end == text.len() && out.ends_with('\n') {
        out.pop();
    }
    out
}

/// The byte range of our block, whole lines, the final newline included.
pub fn block_range(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n').trim();
        if start.is_none() && (bare == BEGIN_MARK || bare == OLD_BEGIN_MARK) {
            start = Some(offset);
        } else if bare == END_MARK
            && let Some(s) = start
        {
            return Some((s, offset + line.len()));
        }
        offset += line.len();
    }
    None
}

/// The lines of `text` outside our marked block.
pub fn outside_marks(text: &str) -> impl Iterator<Item = &str> {
    let (start, end) = block_range(text).unwrap_or((text.len(), text.len()));
    text[..start].lines().chain(text[end..].lines())
}

/// The lines of `text` inside our marked block (the marks excluded).
pub fn inside_marks(text: &str) -> Vec<&str> {
    let Some((start, end)) = block_range(text) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text[start..end].lines().collect();
    lines[1..lines.len().saturating_sub(1)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip() {
        for original in ["", "a\n", "a\nb", "x = 1\n# c\n"] {
            let added = !original.is_empty() && !original.ends_with('\n');
            let once = with_block(original, "k = v\n");
            assert_eq!(with_block(&once, "k = v\n"), once, "idempotent");
            assert_eq!(without_block(&once, added), original);
            let changed = with_block(&once, "k = w\n");
            assert!(changed.contains("k = w") && !changed.contains("k = v"));
        }
    }

    #[test]
    fn marks_split_the_text() {
        let text = format!("a\n{BEGIN_MARK}\nb\n{END_MARK}\nc\n");
        assert_eq!(outside_marks(&text).collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(inside_marks(&text), vec!["b"]);
    }
}
