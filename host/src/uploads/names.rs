//! The names files were uploaded under, offered again when they are downloaded.
//!
//! A client's file name is never a path here: it is only remembered, cleaned, and given
//! back as the name a browser saves the file under. Cleaning keeps what a person would
//! recognise (any script, spaces, punctuation) and drops what could do harm in a header or
//! on a desktop: folders, control characters and line breaks, quotes, and the invisible
//! direction marks that make `gpj.exe` read as `exe.jpg`.

/// The most characters of a name that are kept.
pub const MAX_NAME_CHARS: usize = 255;

/// The name a client gave, cleaned to be stored and offered back; `None` when nothing
/// usable is left.
pub fn clean(client_name: &str) -> Option<String> {
    // Only the last segment: clients on any system may send a whole path.
    let base = client_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(client_name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_direction_mark(*c))
        .map(|c| if c == '"' { '\'' } else { c })
        .take(MAX_NAME_CHARS)
        .collect();
    // No hidden files and no names of only dots or spaces.
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

/// The name a download is offered under: the uploaded name when its extension is the one
/// the file is stored and served with, else that name with the stored extension added,
/// so the saved file never claims a type the server did not serve it as (`page.html`
/// stored as inert bytes saves as `page.html.bin`).
pub fn download_name(uploaded: &str, stored_extension: &str) -> String {
    let same = uploaded
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(stored_extension));
    if same {
        uploaded.to_owned()
    } else {
        format!("{uploaded}.{stored_extension}")
    }
}

/// Unicode marks that change the direction text is shown in without showing themselves.
fn is_direction_mark(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_controls_quotes_and_direction_marks() {
        assert_eq!(clean("报告.pdf").as_deref(), Some("报告.pdf"));
        assert_eq!(clean("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            clean("C:\\Users\\a\\My file.docx").as_deref(),
            Some("My file.docx")
        );
        assert_eq!(
            clean("a\"b\r\nSet-Cookie: x.txt").as_deref(),
            Some("a'bSet-Cookie: x.txt")
        );
        assert_eq!(
            clean("photo\u{202E}gpj.exe").as_deref(),
            Some("photogpj.exe")
        );
        assert_eq!(clean(".bashrc").as_deref(), Some("bashrc"));
        for nothing in ["", "  ", "..", "dir/", "\r\n"] {
            assert_eq!(clean(nothing), None, "{nothing:?}");
        }
        let long = clean(&"é".repeat(300)).expect("kept");
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn a_download_keeps_the_stored_extension() {
        assert_eq!(download_name("报告.pdf", "pdf"), "报告.pdf");
        assert_eq!(download_name("Photo.JPG", "jpg"), "Photo.JPG");
        assert_eq!(download_name("page.html", "bin"), "page.html.bin");
        assert_eq!(download_name("README", "bin"), "README.bin");
        assert_eq!(download_name("notes.txt", "md"), "notes.txt.md");
    }
}
