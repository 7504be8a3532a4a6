//! The filesystem a process-runtime tenant sees: a private mount namespace whose root is a
//! small tmpfs holding read-only binds of the system's programs and libraries, Node.js and
//! Node-RED at the paths of the tenant image, the tenant's own userDir at `/data`, a private
//! `/tmp` and a `/proc` that shows only the tenant's own processes. Nothing else of the host
//! — no `/run` (Docker's socket), `/home`, `/root`, `/var`, redhive's data or other tenants —
//! exists in it.
//!
//! [`Plan::enter`] runs in the forked child before exec, where only async-signal-safe calls
//! are allowed: every path and buffer is prepared beforehand and nothing allocates.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{self, Gid, Uid};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

enum Step {
    Dir(CString),
    File(CString, Vec<u8>),
    Bind {
        source: CString,
        target: CString,
        read_only: bool,
    },
    Tmpfs(CString, CString),
    Proc(CString),
    Symlink {
        target: CString,
        link: CString,
    },
}

/// Everything the child does between fork and exec, prepared by the parent.
pub struct Plan {
    root: CString,
    steps: Vec<Step>,
    cgroup_procs: Vec<CString>,
    credentials: Option<(u32, u32)>,
    workdir: CString,
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path with a NUL byte"))
}

/// Where the tenant's files appear inside the jail.
pub struct Layout<'a> {
    /// Host directory the jail's root is mounted on (empty, redhive's own).
    pub mount_point: &'a Path,
    /// `bin/node` inside.
    pub node_dir: &'a Path,
    /// The image's `/usr/src/node-red`: `node_modules/` and `redhive/`.
    pub node_red_dir: &'a Path,
    pub user_dir: &'a Path,
    pub cgroup_procs: Vec<PathBuf>,
    /// uid/gid to become; None when redhive is not root (then there is no jail either).
    pub credentials: Option<(u32, u32)>,
}

const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib64", "libexec", "share"];
const ETC_FILES: &[&str] = &[
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "localtime",
];
const ETC_DIRS: &[&str] = &["ssl", "ca-certificates"];
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

impl Plan {
    pub fn new(layout: &Layout<'_>) -> io::Result<Plan> {
        let root = layout.mount_point.to_path_buf();
        let inside = |path: &str| cstring(&root.join(path.trim_start_matches('/')));
        let mut steps = Vec::new();
        for dir in [
            "usr",
            "usr/local",
            "usr/local/bin",
            "usr/src",
            "usr/src/node-red",
            "usr/src/node-red/node_modules",
            "usr/src/node-red/redhive",
            "etc",
            "dev",
            "proc",
            "tmp",
            "data",
        ] {
            steps.push(Step::Dir(inside(dir)?));
        }
        // /usr/bin, /usr/lib...: programs (sh for npm scripts) and the libraries Node links.
        for dir in SYSTEM_DIRS {
            let host = Path::new("/usr").join(dir);
            if host.is_dir() {
                steps.push(Step::Dir(inside(&format!("usr/{dir}"))?));
                steps.push(bind(&host, inside(&format!("usr/{dir}"))?, true)?);
            }
            // /bin → usr/bin on merged-/usr systems; a real /bin elsewhere.
            let top = Path::new("/").join(dir);
            match std::fs::read_link(&top) {
                Ok(target) => steps.push(Step::Symlink {
                    target: cstring(&target)?,
                    link: inside(dir)?,
                }),
                Err(_) if top.is_dir() => {
                    steps.push(Step::Dir(inside(dir)?));
                    steps.push(bind(&top, inside(dir)?, true)?);
                }
                Err(_) => {}
            }
        }
        steps.push(Step::File(inside("usr/local/bin/node")?, Vec::new()));
        steps.push(bind(
            &layout.node_dir.join("bin/node").canonicalize()?,
            inside("usr/local/bin/node")?,
            true,
        )?);
        for dir in ["node_modules", "redhive"] {
            let host = layout.node_red_dir.join(dir).canonicalize()?;
            steps.push(bind(
                &host,
                inside(&format!("usr/src/node-red/{dir}"))?,
                true,
            )?);
        }
        for file in ETC_FILES {
            let host = Path::new("/etc").join(file);
            if host.exists() {
                steps.push(Step::File(inside(&format!("etc/{file}"))?, Vec::new()));
                steps.push(bind(&host, inside(&format!("etc/{file}"))?, true)?);
            }
        }
        for dir in ETC_DIRS {
            let host = Path::new("/etc").join(dir);
            if host.is_dir() {
                steps.push(Step::Dir(inside(&format!("etc/{dir}"))?));
                steps.push(bind(&host, inside(&format!("etc/{dir}"))?, true)?);
            }
        }
        // npm and os.userInfo() want a name for the uid.
        let (uid, gid) = layout.credentials.unwrap_or((0, 0));
        steps.push(Step::File(
            inside("etc/passwd")?,
            format!("node-red:x:{uid}:{gid}:Node-RED:/data:/bin/sh\n").into_bytes(),
        ));
        steps.push(Step::File(
            inside("etc/group")?,
            format!("node-red:x:{gid}:\n").into_bytes(),
        ));
        for device in DEVICES {
            let target = inside(&format!("dev/{device}"))?;
            steps.push(Step::File(target.clone(), Vec::new()));
            steps.push(bind(&Path::new("/dev").join(device), target, false)?);
        }
        steps.push(Step::Proc(inside("proc")?));
        steps.push(Step::Tmpfs(
            inside("tmp")?,
            CString::new("size=64m,mode=1777").expect("static"),
        ));
        steps.push(bind(layout.user_dir, inside("data")?, false)?);
        Ok(Plan {
            root: cstring(&root)?,
            steps,
            cgroup_procs: layout
                .cgroup_procs
                .iter()
                .map(|p| cstring(p))
                .collect::<io::Result<_>>()?,
            credentials: layout.credentials,
            workdir: CString::new("/data").expect("static"),
        })
    }

    /// In the child, before exec: own session, the tenant's cgroup, the jail, its uid.
    ///
    /// # Safety
    /// Only from a `pre_exec` hook: it changes the calling process's namespaces and identity.
    pub unsafe fn enter(&self) -> io::Result<()> {
        unistd::setsid()?;
        for procs in &self.cgroup_procs {
            write_file(procs, b"0", libc::O_WRONLY)?;
        }
        let Some((uid, gid)) = self.credentials else {
            return Ok(());
        };
        unshare(CloneFlags::CLONE_NEWNS)?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )?;
        mount(
            Some("tmpfs"),
            self.root.as_c_str(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID,
            Some("size=1m,mode=0755"),
        )?;
        for step in &self.steps {
            self.run(step)?;
        }
        unistd::chdir(self.root.as_c_str())?;
        unistd::pivot_root(".", ".")?;
        umount2(".", MntFlags::MNT_DETACH)?;
        unistd::chdir("/")?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
            None::<&str>,
        )?;
        unistd::setgroups(&[])?;
        unistd::setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))?;
        unistd::setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))?;
        nix::sys::prctl::set_no_new_privs()?;
        unistd::chdir(self.workdir.as_c_str())?;
        Ok(())
    }

    fn run(&self, step: &Step) -> nix::Result<()> {
        match step {
            Step::Dir(path) => {
                match unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755)) {
                    Err(nix::errno::Errno::EEXIST) => Ok(()),
                    other => other,
                }
            }
            Step::File(path, content) => write_file(
                path,
                content,
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            )
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
            Step::Bind {
                source,
                target,
                read_only,
            } => {
                mount(
                    Some(source.as_c_str()),
                    target.as_c_str(),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )?;
                let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID;
                if *read_only {
                    flags |= MsFlags::MS_RDONLY;
                }
                mount(
                    None::<&str>,
                    target.as_c_str(),
                    None::<&str>,
                    flags,
                    None::<&str>,
                )
            }
            Step::Tmpfs(target, options) => mount(
                Some("tmpfs"),
                target.as_c_str(),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(options.as_c_str()),
            ),
            // hidepid=2: the tenant sees its own processes only.
            Step::Proc(target) => mount(
                Some("proc"),
                target.as_c_str(),
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("hidepid=2"),
            ),
            Step::Symlink { target, link } => {
                // SAFETY: both are valid NUL-terminated strings.
                let result = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
                nix::errno::Errno::result(result).map(drop)
            }
        }
    }
}

fn bind(source: &Path, target: CString, read_only: bool) -> io::Result<Step> {
    Ok(Step::Bind {
        source: cstring(source)?,
        target,
        read_only,
    })
}

/// open + write + close with raw calls (no allocation after fork).
fn write_file(path: &CString, content: &[u8], flags: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid C string; the descriptor is closed on every path.
    unsafe {
        let fd = libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o644);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, content.as_ptr().cast(), content.len());
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written < 0 || written as usize != content.len() {
            return Err(error);
        }
    }
    Ok(())
}
