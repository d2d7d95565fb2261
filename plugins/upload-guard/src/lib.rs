//! The `upload-guard` plugin: accepts an upload only when its first bytes show an allowed
//! type and it is not too large, and has it stored under the extension of the type it
//! really is. Programs are refused by name, whatever the file claims to be.
//!
//! The client's file name and content type are never trusted: `holiday.png` that starts
//! like a Windows program is refused as one, and a PDF named `notes.txt` is stored and
//! served as `.pdf`.

mod detect;

use confab_plugin_sdk::{config, log, Hook, Plugin, UploadMeta, UploadVerdict};
use serde::Deserialize;

use crate::detect::{detect, Detected, Kind};

/// The plugin.
pub struct UploadGuard;

impl Plugin for UploadGuard {
    const HOOKS: &'static [Hook] = &[Hook::OnUpload];

    fn check_config(json: &str) -> Result<(), String> {
        config::parse::<Guard>(json).map(drop)
    }

    fn on_upload(meta: UploadMeta, head: Vec<u8>) -> UploadVerdict {
        match config::get::<Guard>() {
            Ok(guard) => guard.verdict(&meta, &head),
            Err(error) => {
                // Unreachable while the server applies only checked configurations; failing
                // closed matches the manifest.
                log::error(format_args!("invalid configuration, refusing: {error}"));
                UploadVerdict::reject("uploads are not available right now")
            }
        }
    }
}

confab_plugin_sdk::export!(UploadGuard);

/// The configuration as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The kinds accepted, by name (see [`Kind::name`]).
    allowed: Vec<String>,
    /// The largest file accepted, bytes.
    max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let allowed = [
            Kind::Png,
            Kind::Jpeg,
            Kind::Gif,
            Kind::Webp,
            Kind::Pdf,
            Kind::Txt,
            Kind::Mp3,
            Kind::Ogg,
            Kind::Wav,
            Kind::Mp4,
        ];
        Settings {
            allowed: allowed.iter().map(|kind| kind.name().to_owned()).collect(),
            max_bytes: 10 * MIB,
        }
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A configuration checked and compiled.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Settings")]
struct Guard {
    /// The bits ([`Kind::bit`]) of the kinds accepted.
    allowed: u32,
    max_bytes: u64,
}

impl TryFrom<Settings> for Guard {
    type Error = String;

    fn try_from(settings: Settings) -> Result<Self, String> {
        let mut allowed = 0;
        for name in &settings.allowed {
            let kind = Kind::from_name(&name.to_ascii_lowercase()).ok_or_else(|| {
                let known: Vec<_> = Kind::ALL.iter().map(|kind| kind.name()).collect();
                format!(
                    "allowed: unknown type {name:?}; known types are {}",
                    known.join(", ")
                )
            })?;
            allowed |= kind.bit();
        }
        if settings.max_bytes == 0 {
            return Err("max_bytes must be above zero".to_owned());
        }
        Ok(Guard {
            allowed,
            max_bytes: settings.max_bytes,
        })
    }
}

impl Guard {
    /// What happens to the upload described by `meta`, which starts with `head`.
    fn verdict(&self, meta: &UploadMeta, head: &[u8]) -> UploadVerdict {
        let complete = head.len() as u64 >= meta.size;
        let kind = match detect(head, complete) {
            Detected::Executable(program) => {
                return UploadVerdict::reject(format!(
                    "programs cannot be uploaded, and this file is {program}"
                ))
            }
            Detected::Unknown => return UploadVerdict::reject("the file's type is not recognised"),
            Detected::Kind(kind) => kind,
        };
        if meta.size > self.max_bytes {
            return UploadVerdict::reject(format!(
                "the file is larger than the limit of {}",
                size(self.max_bytes)
            ));
        }
        if self.allowed & kind.bit() == 0 {
            return UploadVerdict::reject(format!(
                "{} files are not accepted",
                kind.name().to_uppercase()
            ));
        }
        UploadVerdict::accept_as(format!("upload.{}", kind.extension()), kind.mime())
    }
}

/// `bytes` for people: in MiB or KiB when it is a whole number of them.
fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use confab_plugin_sdk::UploadAccept;

    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR";

    fn compile(json: &str) -> Guard {
        config::parse(json).expect("a valid configuration")
    }

    fn meta(name: &str, size: u64) -> UploadMeta {
        UploadMeta {
            name: Some(name.to_owned()),
            content_type: Some("image/png".to_owned()),
            size,
            uploader: 1,
        }
    }

    fn refusal(verdict: UploadVerdict) -> String {
        match verdict {
            UploadVerdict::Reject(reason) => reason,
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn an_image_is_named_by_its_real_type() {
        let verdict = compile("{}").verdict(&meta("cat.gif", 5000), PNG);
        assert_eq!(
            verdict,
            UploadVerdict::Accept(UploadAccept {
                name: Some("upload.png".to_owned()),
                content_type: Some("image/png".to_owned()),
            })
        );
        let jpeg = compile("{}").verdict(&meta("photo.jpeg", 5000), b"\xFF\xD8\xFF\xE0");
        assert_eq!(jpeg, UploadVerdict::accept_as("upload.jpg", "image/jpeg"));
    }

    #[test]
    fn a_program_is_refused_whatever_its_name() {
        let reason = refusal(compile("{}").verdict(&meta("holiday.png", 5000), b"MZ\x90\0"));
        assert!(reason.contains("Windows program"), "{reason}");
        let script = compile(r#"{"allowed": ["txt"]}"#).verdict(&meta("a.txt", 20), b"#!/bin/sh\n");
        assert!(refusal(script).contains("script"));
    }

    #[test]
    fn large_files_are_refused() {
        let guard = compile(r#"{"max_bytes": 1048576}"#);
        assert!(matches!(
            guard.verdict(&meta("a.png", 1024 * 1024), PNG),
            UploadVerdict::Accept(_)
        ));
        let reason = refusal(guard.verdict(&meta("a.png", 1024 * 1024 + 1), PNG));
        assert_eq!(reason, "the file is larger than the limit of 1 MiB");
    }

    #[test]
    fn only_allowed_types_pass() {
        let guard = compile(r#"{"allowed": ["PNG", "jpg"]}"#);
        assert!(matches!(
            guard.verdict(&meta("a.png", 20), PNG),
            UploadVerdict::Accept(_)
        ));
        let reason = refusal(guard.verdict(&meta("a.pdf", 20), b"%PDF-1.7\n"));
        assert_eq!(reason, "PDF files are not accepted");
        let zip = refusal(compile("{}").verdict(&meta("a.zip", 20), b"PK\x03\x04"));
        assert_eq!(
            zip, "ZIP files are not accepted",
            "zip is not allowed by default"
        );
    }

    #[test]
    fn unknown_and_empty_files_are_refused() {
        let guard = compile("{}");
        assert_eq!(
            refusal(guard.verdict(&meta("a.bin", 4), b"\0\x01\x02\x03")),
            "the file's type is not recognised"
        );
        assert!(matches!(
            guard.verdict(&meta("empty.txt", 0), b""),
            UploadVerdict::Reject(_)
        ));
    }

    #[test]
    fn text_is_served_as_plain_text() {
        let verdict = compile("{}").verdict(&meta("page.html", 30), b"<script>alert(1)</script>");
        assert_eq!(
            verdict,
            UploadVerdict::accept_as("upload.txt", "text/plain")
        );
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (json, needle) in [
            (r#"{"allowed": ["png", "exe"]}"#, "unknown type \"exe\""),
            (r#"{"max_bytes": 0}"#, "above zero"),
            (r#"{"max_bytes": "10M"}"#, "invalid type"),
            (r#"{"allow": []}"#, "allow"),
        ] {
            let error = UploadGuard::check_config(json).expect_err(json);
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(10 * MIB), "10 MiB");
        assert_eq!(size(512 * KIB), "512 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[test]
    fn the_manifest_matches_the_plugin() {
        confab_plugin_sdk::testing::check_manifest::<UploadGuard>(include_str!("../plugin.toml"))
            .expect("plugin.toml");
    }
}
