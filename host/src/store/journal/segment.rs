//! The message log's files: segments of framed records, how they are written, read back
//! and cut at a torn tail.
//!
//! A segment is named after the first message id it holds (`00000000000000000042.log`)
//! and starts with [`MAGIC`]. Each record is a message as JSON, framed by its length and a
//! CRC-32 of its bytes (both little-endian `u32`), so a record cut short by a crash, or
//! bytes the disk never wrote, are told apart from a whole record when the log is read
//! back.
//!
//! Space is zero-filled ahead of the records ([`ALLOCATE`] at a time) and records are
//! written into it in place, so the sync after most appends flushes data only: the file's
//! size, and so the file system's journal, changes once per allocation rather than on every
//! append (the same reason databases pre-fill their log files). A closed segment is cut to
//! its records.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::messages::Message;

/// The first bytes of every segment: the format and its version.
pub(super) const MAGIC: &[u8; 8] = b"CFBLOG1\n";

/// Length and checksum before each record.
const FRAME: usize = 8;

/// How much zero-filled space is added ahead of the records when they reach its end.
pub(super) const ALLOCATE: u64 = 1024 * 1024;

/// The largest record a segment may hold; a longer length field is damage, not a record.
const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Appends one framed record for `message` to `buf`.
pub(super) fn encode(message: &Message, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME]);
    serde_json::to_writer(&mut *buf, message).context("encoding a message for the log")?;
    let payload = &buf[start + FRAME..];
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| (*len as usize) <= MAX_RECORD)
        .context("a message too large for the log")?;
    let crc = crc32fast::hash(payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + FRAME].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What reading a segment found.
#[derive(Debug)]
pub(super) struct Contents {
    /// Every whole record, in order.
    pub(super) messages: Vec<Message>,
    /// Where the whole records end: a torn or damaged tail starts here.
    pub(super) valid_len: u64,
    /// The file's length.
    pub(super) file_len: u64,
    /// Whether bytes other than zeros follow the last whole record.
    damaged: bool,
}

impl Contents {
    /// Whether anything but zero-filled space follows the last whole record.
    pub(super) fn torn(&self) -> bool {
        self.damaged
    }
}

/// Reads a segment's records up to the first one that is incomplete or damaged.
pub(super) fn read(path: &Path) -> anyhow::Result<Contents> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file_len = bytes.len() as u64;
    if bytes.len() < MAGIC.len() {
        // Created but never written: a crash between creating and the first append.
        return Ok(Contents {
            messages: Vec::new(),
            valid_len: 0,
            file_len,
            damaged: false,
        });
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        anyhow::bail!("{} is not a message log segment", path.display());
    }
    let mut messages = Vec::new();
    let mut at = MAGIC.len();
    while let Some(frame) = bytes.get(at..at + FRAME) {
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if len == 0 || len > MAX_RECORD {
            break;
        }
        let Some(payload) = bytes.get(at + FRAME..at + FRAME + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(message) = serde_json::from_slice::<Message>(payload) else {
            break;
        };
        messages.push(message);
        at += FRAME + len;
    }
    Ok(Contents {
        messages,
        valid_len: at as u64,
        file_len,
        damaged: bytes[at..].iter().any(|b| *b != 0),
    })
}

/// The segments in `dir`, oldest first, with the first id each one's name gives.
pub(super) fn list(dir: &Path) -> anyhow::Result<Vec<(i64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<i64>().ok());
        if let Some(first) = first {
            found.push((first, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The path of the segment whose first message has id `first`.
pub(super) fn path(dir: &Path, first: i64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Creates a segment holding only [`MAGIC`], durably: the file and its directory entry are
/// on disk before any message is acknowledged from it.
pub(super) fn create(dir: &Path, first: i64) -> anyhow::Result<File> {
    let path = path(dir, first);
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(MAGIC)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes the directory's entries (files created or removed) durable.
pub(super) fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

/// Writes `bytes` after the records, which end at `len`, and waits until they are on disk.
/// `allocated` is how far the file is zero-filled; when the records would pass it, more
/// zero-filled space is added in the same sync. Returns how far the file is filled now.
/// On failure the bytes written are zeroed again (best effort), so that the next append,
/// written at the same place, is not followed by a fragment of this one.
pub(super) fn append(file: &File, len: u64, allocated: u64, bytes: &[u8]) -> io::Result<u64> {
    let end = len + bytes.len() as u64;
    let filled = if end > allocated {
        end.div_ceil(ALLOCATE) * ALLOCATE
    } else {
        allocated
    };
    let written = file
        .write_all_at(bytes, len)
        .and_then(|()| zero(file, end.max(allocated), filled))
        .and_then(|()| file.sync_data());
    if let Err(err) = written {
        let _ = zero(file, len, end);
        return Err(err);
    }
    Ok(filled)
}

/// Cuts a segment that will not be written again to its records, and syncs it.
pub(super) fn close(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)?;
    file.sync_all()
}

/// Writes zeros from `from` to `to`.
fn zero(file: &File, from: u64, to: u64) -> io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    let zeros = [0u8; CHUNK];
    let mut at = from;
    while at < to {
        let n = usize::try_from(to - at).map_or(CHUNK, |left| left.min(CHUNK));
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Conversation;

    fn message(id: i64, content: &str) -> Message {
        Message {
            id,
            conversation: Conversation::direct(1, 2),
            sender: 1,
            recipient: Some(2),
            content: content.to_owned(),
            client_id: Some(format!("c{id}")),
            sent_at: 1_700_000_000_000 + id,
            read: false,
            reply_to: None,
            edited_at: None,
        }
    }

    fn write(dir: &Path, messages: &[Message]) -> PathBuf {
        let file = create(dir, messages[0].id).expect("create");
        let mut buf = Vec::new();
        for m in messages {
            encode(m, &mut buf).expect("encode");
        }
        append(&file, MAGIC.len() as u64, MAGIC.len() as u64, &buf).expect("append");
        path(dir, messages[0].id)
    }

    #[test]
    fn records_read_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written: Vec<Message> = (1..=5).map(|i| message(i, "héllo, 你好")).collect();
        let path = write(dir.path(), &written);
        let contents = read(&path).expect("read");
        assert_eq!(contents.messages, written);
        assert!(!contents.torn());
        assert_eq!(list(dir.path()).expect("list"), [(1, path)]);
    }

    #[test]
    fn a_torn_tail_ends_the_records_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written: Vec<Message> = (7..=9).map(|i| message(i, "x")).collect();
        let path = write(dir.path(), &written);
        let whole = read(&path).expect("read").valid_len;
        // A record cut short, as a crash in the middle of a write leaves it.
        let mut more = Vec::new();
        encode(&message(10, "cut"), &mut more).expect("encode");
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        file.write_all_at(&more[..more.len() - 3], whole)
            .expect("write");
        let contents = read(&path).expect("read");
        assert_eq!(contents.messages, written);
        assert_eq!(contents.valid_len, whole);
        assert!(contents.torn());
    }

    #[test]
    fn space_is_filled_ahead_in_steps_and_cut_at_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = create(dir.path(), 1).expect("create");
        let start = MAGIC.len() as u64;
        let mut records = Vec::new();
        encode(&message(1, "a"), &mut records).expect("encode");
        let filled = append(&file, start, start, &records).expect("append");
        assert_eq!(filled, ALLOCATE, "one step of zero-filled space");
        let len = start + records.len() as u64;
        let path = path(dir.path(), 1);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), ALLOCATE);
        // Records written into the filled space leave the size alone.
        let mut more = Vec::new();
        encode(&message(2, "b"), &mut more).expect("encode");
        assert_eq!(append(&file, len, filled, &more).expect("again"), ALLOCATE);
        let contents = read(&path).expect("read");
        assert_eq!(contents.messages.len(), 2);
        assert!(!contents.torn(), "zeros after the records are free space");
        // A record that passes the end adds the next step.
        let big = "x".repeat(ALLOCATE as usize);
        let mut large = Vec::new();
        encode(&message(3, &big), &mut large).expect("encode");
        let len = len + more.len() as u64;
        let filled = append(&file, len, ALLOCATE, &large).expect("large");
        let end = len + large.len() as u64;
        assert_eq!(
            filled,
            2 * ALLOCATE,
            "filled to the next step past the record"
        );
        assert!(end > ALLOCATE && end < filled);
        close(&file, end).expect("close");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), end);
        let contents = read(&path).expect("read");
        assert_eq!(contents.messages.len(), 3);
        assert!(!contents.torn());
    }

    #[test]
    fn a_damaged_record_ends_the_records_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written: Vec<Message> = (1..=3).map(|i| message(i, "abc")).collect();
        let path = write(dir.path(), &written);
        let end = read(&path).expect("read").valid_len as usize;
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[end - 2] ^= 0x20;
        std::fs::write(&path, &bytes).expect("write");
        let contents = read(&path).expect("read");
        assert_eq!(contents.messages, written[..2]);
        assert!(contents.torn());
    }

    #[test]
    fn foreign_files_are_refused_and_empty_ones_hold_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let foreign = path(dir.path(), 3);
        std::fs::write(&foreign, b"not a log at all").expect("write");
        assert!(read(&foreign).is_err());
        let empty = path(dir.path(), 4);
        std::fs::write(&empty, b"").expect("write");
        assert!(read(&empty).expect("empty").messages.is_empty());
        std::fs::write(dir.path().join("notes.txt"), b"").expect("write");
        assert_eq!(list(dir.path()).expect("list").len(), 2);
    }
}
