//! What a file is, judged by its first bytes (its magic numbers) rather than by the name or
//! content type its uploader claims.

/// The file types the guard recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Avif,
    Heic,
    Pdf,
    Zip,
    Mp3,
    Ogg,
    Wav,
    Mp4,
    Txt,
}

impl Kind {
    /// Every kind.
    pub(crate) const ALL: [Kind; 13] = [
        Kind::Png,
        Kind::Jpeg,
        Kind::Gif,
        Kind::Webp,
        Kind::Avif,
        Kind::Heic,
        Kind::Pdf,
        Kind::Zip,
        Kind::Mp3,
        Kind::Ogg,
        Kind::Wav,
        Kind::Mp4,
        Kind::Txt,
    ];

    /// Its name in the configuration's `allowed` list.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpeg",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Avif => "avif",
            Kind::Heic => "heic",
            Kind::Pdf => "pdf",
            Kind::Zip => "zip",
            Kind::Mp3 => "mp3",
            Kind::Ogg => "ogg",
            Kind::Wav => "wav",
            Kind::Mp4 => "mp4",
            Kind::Txt => "txt",
        }
    }

    /// The kind called `name` in `allowed` (`jpg` is `jpeg` too).
    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        if name == "jpg" {
            return Some(Kind::Jpeg);
        }
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The extension files of this kind are stored and served with.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            other => other.name(),
        }
    }

    /// Its MIME type.
    pub(crate) fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Avif => "image/avif",
            Kind::Heic => "image/heic",
            Kind::Pdf => "application/pdf",
            Kind::Zip => "application/zip",
            Kind::Mp3 => "audio/mpeg",
            Kind::Ogg => "audio/ogg",
            Kind::Wav => "audio/wav",
            Kind::Mp4 => "video/mp4",
            Kind::Txt => "text/plain",
        }
    }

    /// A bit of its own, for sets of kinds.
    pub(crate) fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detected {
    /// A program, described for the uploader.
    Executable(&'static str),
    /// A known kind of file.
    Kind(Kind),
    /// Nothing the guard knows.
    Unknown,
}

/// What a file starting with `head` is; `complete` when `head` is the whole file (so text
/// cannot end in the middle of a character).
pub(crate) fn detect(head: &[u8], complete: bool) -> Detected {
    if let Some(program) = executable(head) {
        return Detected::Executable(program);
    }
    binary(head)
        .or_else(|| text(head, complete).then_some(Kind::Txt))
        .map_or(Detected::Unknown, Detected::Kind)
}

/// The kind of program `head` starts, if it starts one.
fn executable(head: &[u8]) -> Option<&'static str> {
    const MACH_O: [&[u8]; 4] = [
        b"\xFE\xED\xFA\xCE",
        b"\xFE\xED\xFA\xCF",
        b"\xCE\xFA\xED\xFE",
        b"\xCF\xFA\xED\xFE",
    ];
    if head.starts_with(b"MZ") {
        Some("a Windows program")
    } else if head.starts_with(b"\x7FELF") {
        Some("a Linux program (ELF)")
    } else if MACH_O.iter().any(|magic| head.starts_with(magic)) {
        Some("a macOS program (Mach-O)")
    } else if head.starts_with(b"\xCA\xFE\xBA\xBE") {
        // Universal Mach-O binaries and Java classes share this magic.
        Some("a macOS or Java program")
    } else if head.starts_with(b"#!") {
        Some("a script")
    } else if head.starts_with(b"\0asm") {
        Some("a WebAssembly program")
    } else {
        None
    }
}

/// The binary kind `head` starts, if any.
fn binary(head: &[u8]) -> Option<Kind> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let kind = if head.starts_with(b"\x89PNG\r\n\x1A\n") {
        Kind::Png
    } else if head.starts_with(b"\xFF\xD8\xFF") {
        Kind::Jpeg
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Kind::Gif
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Kind::Webp
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Kind::Wav
    } else if head.starts_with(b"%PDF-") {
        Kind::Pdf
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else if head.starts_with(b"OggS") {
        Kind::Ogg
    } else if head.starts_with(b"ID3") || mpeg_audio_frame(head) {
        Kind::Mp3
    } else if at(4, b"ftyp") {
        iso_media(head.get(8..12)?)
    } else {
        return None;
    };
    Some(kind)
}

/// Whether `head` starts with an MPEG-1/2 layer III frame header (an MP3 without ID3 tag).
fn mpeg_audio_frame(head: &[u8]) -> bool {
    match head {
        [0xFF, second, ..] => {
            let sync = second & 0xE0 == 0xE0;
            let version_known = (second >> 3) & 0b11 != 0b01;
            let layer_three = (second >> 1) & 0b11 == 0b01;
            sync && version_known && layer_three
        }
        _ => false,
    }
}

/// The kind of an ISO media file (`ftyp` box) by its major brand: HEIF and AVIF images
/// use the same container as MP4 video.
fn iso_media(brand: &[u8]) -> Kind {
    match brand {
        b"avif" | b"avis" => Kind::Avif,
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => Kind::Heic,
        _ => Kind::Mp4,
    }
}

/// Whether `head` looks like UTF-8 text: it decodes (allowing a character cut off at the
/// end when the file goes on) and holds no control characters but layout ones.
fn text(head: &[u8], complete: bool) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if head.is_empty() {
        return false;
    }
    let decodes = match std::str::from_utf8(head) {
        Ok(_) => true,
        // `error_len() == None`: the bytes are fine but the last character is cut off.
        Err(error) => !complete && error.error_len().is_none(),
    };
    decodes
        && head
            .iter()
            .all(|&b| (b >= 0x20 && b != 0x7F) || matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(head: &[u8]) -> Option<Kind> {
        match detect(head, false) {
            Detected::Kind(kind) => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn magic_numbers_name_the_kind() {
        for (head, expected) in [
            (&b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR"[..], Kind::Png),
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Kind::Jpeg),
            (b"GIF89a\x01\0", Kind::Gif),
            (b"GIF87a\x01\0", Kind::Gif),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Kind::Webp),
            (b"RIFF\x24\0\0\0WAVEfmt ", Kind::Wav),
            (b"%PDF-1.7\n", Kind::Pdf),
            (b"PK\x03\x04\x14\0", Kind::Zip),
            (b"OggS\0\x02", Kind::Ogg),
            (b"ID3\x04\0\0", Kind::Mp3),
            (b"\xFF\xFB\x90\x64", Kind::Mp3),
            (b"\xFF\xF3\x90\x64", Kind::Mp3),
            (b"\0\0\0\x18ftypmp42\0\0\0\0", Kind::Mp4),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Kind::Mp4),
            (b"\0\0\0\x1cftypavif\0\0\0\0", Kind::Avif),
            (b"\0\0\0\x18ftypheic\0\0\0\0", Kind::Heic),
            ("héllo, 世界\n".as_bytes(), Kind::Txt),
            (b"\xEF\xBB\xBFwith a byte order mark", Kind::Txt),
            (b"<svg onload=alert(1)>", Kind::Txt),
        ] {
            assert_eq!(kind(head), Some(expected), "{head:?}");
        }
    }

    #[test]
    fn programs_are_recognised_whatever_follows() {
        for head in [
            &b"MZ\x90\0\x03\0"[..],
            b"\x7FELF\x02\x01\x01",
            b"\xCF\xFA\xED\xFE\x07\0\0\x01",
            b"\xFE\xED\xFA\xCE",
            b"\xCA\xFE\xBA\xBE\0\0\0\x02",
            b"#!/bin/sh\nrm -rf /\n",
            b"\0asm\x01\0\0\0",
        ] {
            assert!(
                matches!(detect(head, false), Detected::Executable(_)),
                "{head:?}"
            );
        }
    }

    #[test]
    fn text_may_be_cut_off_only_when_the_file_goes_on() {
        let cut = &"日本".as_bytes()[..4];
        assert_eq!(detect(cut, false), Detected::Kind(Kind::Txt));
        assert_eq!(detect(cut, true), Detected::Unknown);
    }

    #[test]
    fn binary_junk_and_empty_files_are_unknown() {
        for head in [
            &b""[..],
            b"\xEF\xBB\xBF",
            b"\0\0\0\0",
            b"text with a \0 in it",
            b"\x1B[31mred\x1B[0m",
            b"\xC3\x28 invalid utf-8",
            b"RIFF\x24\0\0\0AVI ",
            b"\0\0\0\x18ftyp",
            b"\xFF\xFF\xFF",
        ] {
            assert_eq!(detect(head, false), Detected::Unknown, "{head:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Kind::from_name("jpg"), Some(Kind::Jpeg));
        assert_eq!(Kind::from_name("exe"), None);
        assert_eq!(Kind::Jpeg.extension(), "jpg");
    }
}
