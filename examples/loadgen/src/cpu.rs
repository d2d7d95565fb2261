//! CPU time used by a process, from `/proc/<pid>/stat`, to tell a run limited by the
//! processor from one that waits (on the disk, say).

/// Clock ticks per second in `/proc` times: fixed at 100 by the Linux ABI on the usual
/// architectures, whatever the kernel's internal tick.
const USER_HZ: f64 = 100.0;

/// User plus system CPU seconds of process `pid` (this process for `None`), all threads
/// included; `None` when it cannot be read.
pub(crate) fn seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are the 12th and 13th after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        assert!(super::seconds(None).is_some_and(|s| s >= 0.0));
    }
}
