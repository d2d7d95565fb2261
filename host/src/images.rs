//! Image dimensions read from a file's header, so that a small file declaring a huge
//! picture (a decompression bomb: a few kilobytes that decode to gigabytes) is refused
//! before it is stored or served to anyone's client.
//!
//! Only the header is read (the `imagesize` crate reads as little as it can: a PNG's first
//! 24 bytes, a JPEG's markers up to its frame header), never the pixels. A file that is not
//! an image of a known kind, or whose header does not say its size, passes: nothing would
//! decode it into a picture either.

use crate::error::{Error, Result};
use crate::uploads::ReceivedFile;

/// Refuses `file` when it is an image whose header declares more than `max_pixels` pixels
/// (width times height).
pub fn check_pixels(file: &ReceivedFile, max_pixels: u64) -> Result<()> {
    if imagesize::image_type(&file.head).is_err() {
        return Ok(());
    }
    let Ok(size) = imagesize::size(&file.temp) else {
        return Ok(());
    };
    let (width, height) = (size.width as u64, size.height as u64);
    if width.saturating_mul(height) > max_pixels {
        return Err(Error::ImageTooLarge {
            width,
            height,
            limit: max_pixels,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A PNG header (signature and IHDR) declaring `width` x `height`.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(b"\x08\x06\0\0\0\0\0\0\0");
        bytes
    }

    fn received(bytes: &[u8]) -> ReceivedFile {
        let mut temp = tempfile::NamedTempFile::new().expect("temp file");
        temp.write_all(bytes).expect("write");
        ReceivedFile {
            temp: temp.into_temp_path(),
            client_name: None,
            client_type: None,
            size: bytes.len() as u64,
            head: bytes[..bytes.len().min(crate::uploads::HEAD_BYTES)].to_vec(),
        }
    }

    #[test]
    fn declared_dimensions_decide() {
        let limit = 40_000_000;
        assert!(check_pixels(&received(&png(1, 1)), limit).is_ok());
        assert!(check_pixels(&received(&png(8000, 5000)), limit).is_ok());
        let bomb = check_pixels(&received(&png(60_000, 60_000)), limit).expect_err("bomb");
        assert!(
            matches!(
                bomb,
                Error::ImageTooLarge {
                    width: 60_000,
                    height: 60_000,
                    ..
                }
            ),
            "{bomb:?}"
        );
        assert!(check_pixels(&received(&png(8001, 5000)), limit).is_err());
    }

    #[test]
    fn a_jpeg_frame_header_past_the_first_bytes_is_found() {
        // SOI, an APP1 segment of 1000 bytes (as EXIF data would be), then SOF0 declaring
        // 60000 x 60000.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x03, 0xE8];
        jpeg.extend(std::iter::repeat_n(0u8, 998));
        jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0xEA, 0x60, 0xEA, 0x60, 0x03]);
        jpeg.extend(std::iter::repeat_n(0u8, 16));
        assert!(check_pixels(&received(&jpeg), 40_000_000).is_err());
    }

    #[test]
    fn other_files_pass() {
        assert!(check_pixels(&received(b"plain text, not an image"), 1).is_ok());
        assert!(
            check_pixels(&received(b"\x89PNG\r\n\x1a\n"), 1).is_ok(),
            "no size"
        );
    }
}
