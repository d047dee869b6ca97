//! The temporary files of atomic writes. Each is created beside its output as `.NAME.PID-HOST.XXXXXX.tmp` (NAME the
//! output's file name, PID this process, HOST eight hex digits of a hash of the host name, XXXXXX random), and
//! registered while it lives, so that:
//!
//! - [`cleanup_temp_files`] removes every one still open, for a front end's SIGINT/SIGTERM handler (or
//!   [`remove_temp_files_on_signals`], which installs one);
//! - the next writer of the same output removes those left by a killed run: same output name, same host, and a
//!   process that is gone (or this process, when the file is not one of its live ones). Files of another host, of a
//!   live process, or named otherwise (such as the `.NAME.XXXXXX.tmp` of earlier versions) are left alone.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// The temporary files this process has open.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A temporary file beside an output: removed when dropped, unless [`persist`](Self::persist)ed under the output's
/// name.
pub(crate) struct TempFile {
    file: Option<NamedTempFile>,
    path: PathBuf,
}

impl TempFile {
    /// Creates the temporary file of `output` in `dir` (the output's folder), after removing the stale ones of the
    /// same output.
    pub(crate) fn create(dir: &Path, output: &Path) -> Result<TempFile> {
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        remove_stale(dir, &name);
        // Created and registered under the lock: a signal handler that holds it sees every file or none.
        let mut live = live();
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}.{}.", tag()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(&output.display().to_string(), &e))?;
        let path = file.path().to_path_buf();
        live.insert(path.clone());
        Ok(TempFile { file: Some(file), path })
    }

    /// The open file.
    pub(crate) fn as_file(&self) -> &File {
        self.file.as_ref().expect("present until persisted").as_file()
    }

    /// The temporary file's path.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `to` (replacing it).
    pub(crate) fn persist(mut self, to: &Path) -> std::io::Result<()> {
        let mut live = live();
        let file = self.file.take().expect("present until persisted");
        live.remove(&self.path);
        // On failure the temporary file comes back and is removed as it drops.
        file.persist(to).map(drop).map_err(|e| e.error)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let mut live = live();
            drop(file);
            live.remove(&self.path);
        }
    }
}

/// `PID-HOST` of this process, as in the temporary files' names.
fn tag() -> String {
    format!("{}-{}", std::process::id(), host())
}

/// Eight hex digits of a hash of this machine's host name (a shared file system is seen by several hosts, whose
/// process ids say nothing here).
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
        let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
        let len = if ok { buf.iter().position(|&b| b == 0).unwrap_or(buf.len()) } else { 0 };
        format!("{:08x}", crate::dataset::fnv1a64(&buf[..len]) as u32)
    })
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
    let signalled = unsafe { libc::kill(pid, 0) } == 0;
    signalled || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The process id in a temporary file name of the output `name` written by this host, if `file` is one.
fn owner(file: &str, name: &str) -> Option<u32> {
    let middle = file.strip_prefix('.')?.strip_prefix(name)?.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (tag, random) = middle.split_once('.')?;
    let (pid, host_hash) = tag.split_once('-')?;
    let well_formed = random.len() == 6
        && random.bytes().all(|b| b.is_ascii_alphanumeric())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit());
    (well_formed && host_hash == host()).then(|| pid.parse().ok()).flatten()
}

/// Removes the temporary files of the output `name` in `dir` that no live process of ours holds; returns how many.
/// Best effort: a folder that cannot be listed or a file that cannot be removed is left as it is.
pub(crate) fn remove_stale(dir: &Path, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner(&file, name) else { continue };
        let path = entry.path();
        let stale = if pid == std::process::id() { !live().contains(&path) } else { !alive(pid) };
        if stale && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes every temporary file this process has open (the outputs being written stay unwritten) and returns how
/// many. For a SIGINT/SIGTERM handler: after it, the interrupted writes fail, so call it only on the way out.
pub fn cleanup_temp_files() -> usize {
    remove_live(&mut live())
}

fn remove_live(live: &mut BTreeSet<PathBuf>) -> usize {
    let removed = live.iter().filter(|path| std::fs::remove_file(path).is_ok()).count();
    live.clear();
    removed
}

/// Installs a handler for SIGINT, SIGTERM and SIGHUP (a Slurm time limit sends SIGTERM) that removes this process's
/// temporary files, then ends the process by the same signal, as if there were no handler. For front ends (a
/// program with signal handling of its own calls [`cleanup_temp_files`] from it instead). Calling it again does
/// nothing.
///
/// It lives here, next to the registry of temporary files, because it must hold the registry's lock until the
/// process is gone: no new temporary file can appear between the clean-up and the end.
pub fn remove_temp_files_on_signals() -> Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // A signal ignored when the process started stays ignored: `nohup` ignores SIGHUP, and a shell starts background
    // jobs with SIGINT ignored; handling it would end a run its user meant to survive the signal.
    let wanted: Vec<i32> = [SIGINT, SIGTERM, SIGHUP].into_iter().filter(|&s| !ignored(s)).collect();
    let mut signals = signal_hook::iterator::Signals::new(wanted)
        .map_err(|e| Error::failed("cannot install the signal handler", &e))?;
    std::thread::Builder::new()
        .name("biotorch-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let mut live = live();
                remove_live(&mut live);
                // Ends the process (keeping the lock): default action of the signal, as if it had not been caught.
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        })
        .map_err(|e| Error::failed("cannot start the signal-handling thread", &e))?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// Whether `signal` is ignored now (its disposition is `SIG_IGN`).
fn ignored(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn temporary_files_are_registered_while_they_live() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.parquet");
        let tmp = TempFile::create(dir.path(), &out).unwrap();
        let name = tmp.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!(".t.parquet.{}-{}.", std::process::id(), host())), "{name}");
        assert_eq!(owner(&name, "t.parquet"), Some(std::process::id()));
        assert!(live().contains(tmp.path()));
        let path = tmp.path().to_path_buf();
        drop(tmp);
        assert!(!path.exists() && !live().contains(&path));

        let tmp = TempFile::create(dir.path(), &out).unwrap();
        let path = tmp.path().to_path_buf();
        tmp.persist(&out).unwrap();
        assert!(out.exists() && !live().contains(&path));
        assert_eq!(names(dir.path()), BTreeSet::from(["t.parquet".to_string()]));
    }

    #[test]
    fn stale_files_of_the_same_output_are_removed_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let h = host();
        // A pid that is not alive: above the kernel's limit (pid_max is at most 2^22).
        let dead = 4_999_999;
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let kept = [
            format!(".out.parquet.{parent}-{h}.AbC123.tmp"),         // a live process
            format!(".out.parquet.{dead}-0badc0de.AbC123.tmp"),      // another host
            ".out.parquet.AbC123.tmp".to_string(),                   // the naming of earlier versions
            format!(".other.parquet.{dead}-{h}.AbC123.tmp"),         // another output
            format!(".out.parquet.x.parquet.{dead}-{h}.AbC123.tmp"), // of `out.parquet.x.parquet`
            format!(".out.parquet.{dead}-{h}.AbC12.tmp"),            // not a random part
            format!("out.parquet.{dead}-{h}.AbC123.tmp"),            // not hidden
        ];
        let removed = [format!(".out.parquet.{dead}-{h}.AbC123.tmp"), format!(".out.parquet.{me}-{h}.zzzzzz.tmp")];
        for name in kept.iter().chain(&removed) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let live_one = TempFile::create(dir.path(), &dir.path().join("out.parquet")).unwrap();
        let mut expected: BTreeSet<String> = kept.iter().cloned().collect();
        expected.insert(live_one.path().file_name().unwrap().to_string_lossy().into_owned());
        assert_eq!(names(dir.path()), expected);
        // A second writer of the same output in this process keeps the first one's live file.
        assert_eq!(remove_stale(dir.path(), "out.parquet"), 0);
        assert!(live_one.path().exists());
    }

    /// The child process of the tests below (`cleanup_temp_files` removes every temporary file of its process, which
    /// would disturb the other tests running in this one): opens two temporary files, then either removes them with
    /// `cleanup_temp_files` or installs the signal handler, says where they are, and waits to be killed.
    #[test]
    fn child() {
        let Ok(dir) = std::env::var("BIOTORCH_IO_TEMP_CHILD") else { return };
        let dir = Path::new(&dir);
        let a = TempFile::create(dir, &dir.join("a.parquet")).unwrap();
        let b = TempFile::create(dir, &dir.join("b.json")).unwrap();
        if std::env::var("BIOTORCH_IO_TEMP_MODE").as_deref() == Ok("cleanup") {
            assert_eq!(names(dir).len(), 2);
            assert_eq!(cleanup_temp_files(), 2);
            assert!(names(dir).is_empty() && live().is_empty());
            drop((a, b));
            return;
        }
        remove_temp_files_on_signals().unwrap();
        remove_temp_files_on_signals().unwrap();
        println!("READY {}", a.path().display());
        std::thread::sleep(std::time::Duration::from_secs(60));
        unreachable!("the parent kills this process");
    }

    fn spawn_child(dir: &Path, mode: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "temp::tests::child", "--nocapture", "--test-threads=1"])
            .env("BIOTORCH_IO_TEMP_CHILD", dir)
            .env("BIOTORCH_IO_TEMP_MODE", mode)
            .stdout(std::process::Stdio::piped());
        // The child starts with SIGINT and SIGTERM at their default action even when the tests run as a background
        // job (a non-interactive shell starts those with SIGINT ignored, which the handler rightly leaves ignored).
        // SAFETY: signal() is async-signal-safe, and this runs in the forked child before exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        command.spawn().unwrap()
    }

    #[test]
    fn cleanup_removes_the_live_files() {
        let dir = tempfile::tempdir().unwrap();
        let output = spawn_child(dir.path(), "cleanup").wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_signal_removes_the_temporary_files() {
        use std::io::BufRead;
        use std::os::unix::process::ExitStatusExt;
        for signal in [libc::SIGTERM, libc::SIGINT] {
            let dir = tempfile::tempdir().unwrap();
            let mut child = spawn_child(dir.path(), "signal");
            let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
            let line = stdout.lines().map(Result::unwrap).find(|l| l.contains("READY")).expect("the child is ready");
            let tmp = PathBuf::from(line.split_once("READY ").unwrap().1);
            assert!(tmp.exists() && names(dir.path()).len() == 2);
            // SAFETY: signalling our own child process.
            assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
            let status = child.wait().unwrap();
            assert_eq!(status.signal(), Some(signal), "ended by the signal itself: {status:?}");
            assert!(names(dir.path()).is_empty(), "the temporary files are removed");
        }
    }
}
