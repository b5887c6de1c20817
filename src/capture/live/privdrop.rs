//! Leaving root once the capture handle (and the `-w` file) are open, before the first
//! untrusted byte is parsed — like `tcpdump -Z`. The account is the one `--user` names, else
//! the sudo caller (SUDO_UID/SUDO_GID), else `nobody`.

use std::ffi::{CStr, CString, c_char};

/// Who to become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrivDropError {
    #[error("--user {0}: no such user")]
    NoSuchUser(String),
    #[error(
        "no user \"nobody\" to switch to after opening the capture; name one with --user (or keep root with --keep-root)"
    )]
    NoNobody,
    #[error("--user {0}: refusing to switch to root; use --keep-root to stay root")]
    RootTarget(String),
    #[error("could not switch to user {user} (uid {uid}, gid {gid}): {step}: {detail}")]
    Failed { user: String, uid: u32, gid: u32, step: &'static str, detail: String },
}

/// The sudo caller, as sudo exports it.
#[derive(Clone, Debug, Default)]
pub struct SudoEnv {
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub user: Option<String>,
}

impl SudoEnv {
    pub fn from_env() -> SudoEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        SudoEnv { uid: var("SUDO_UID"), gid: var("SUDO_GID"), user: var("SUDO_USER") }
    }
}

/// Chooses the account to switch to. `lookup` finds a user by name (the system's password
/// database in [`target`]; a table in tests).
pub fn resolve(
    user: Option<&str>,
    sudo: &SudoEnv,
    lookup: impl Fn(&str) -> Option<Account>,
) -> Result<Account, PrivDropError> {
    if let Some(name) = user {
        let account = lookup(name)
            .or_else(|| name.parse::<u32>().ok().map(|uid| Account { name: name.to_string(), uid, gid: uid }))
            .ok_or_else(|| PrivDropError::NoSuchUser(name.to_string()))?;
        if account.uid == 0 {
            return Err(PrivDropError::RootTarget(name.to_string()));
        }
        return Ok(account);
    }
    // sudo run by root itself sets SUDO_UID=0: that caller is no one to become.
    if let Some(uid) = sudo.uid.as_deref().and_then(|u| u.parse::<u32>().ok()).filter(|&u| u != 0) {
        let gid = sudo.gid.as_deref().and_then(|g| g.parse::<u32>().ok()).unwrap_or(uid);
        let name = sudo.user.clone().unwrap_or_else(|| format!("uid {uid}"));
        return Ok(Account { name, uid, gid });
    }
    lookup("nobody").filter(|a| a.uid != 0).ok_or(PrivDropError::NoNobody)
}

/// The account to switch to, from the system's user database and the environment.
pub fn target(user: Option<&str>) -> Result<Account, PrivDropError> {
    resolve(user, &SudoEnv::from_env(), lookup_user)
}

/// Is the process running as root (real or effective)?
pub fn is_root() -> bool {
    // SAFETY: getuid and geteuid cannot fail and touch no memory.
    unsafe { libc::getuid() == 0 || libc::geteuid() == 0 }
}

/// The real user id (for tests and messages).
pub fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Looks `name` up in the password database (getpwnam_r).
pub fn lookup_user(name: &str) -> Option<Account> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as c_char; 16 * 1024];
    // SAFETY: all-zero is a valid `struct passwd` (integers and null pointers).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local; buf's length is passed with it. On success
    // `result` points to `pwd`, whose strings point into `buf`.
    let rc = unsafe { libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside `buf`, still alive.
    let found = unsafe { CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned();
    Some(Account { name: found, uid: pwd.pw_uid, gid: pwd.pw_gid })
}

/// Becomes `account` for good: supplementary groups, group, then user (the user last, since
/// only root may change the others), and checks that root cannot be regained.
pub fn drop_to(account: &Account) -> Result<(), PrivDropError> {
    let fail = |step: &'static str, detail: String| PrivDropError::Failed {
        user: account.name.clone(),
        uid: account.uid,
        gid: account.gid,
        step,
        detail,
    };
    let os_error = || std::io::Error::last_os_error().to_string();
    let groups = [account.gid as libc::gid_t];
    // SAFETY: `groups` is a live array of the length passed.
    if unsafe { libc::setgroups(groups.len() as _, groups.as_ptr()) } != 0 {
        return Err(fail("setgroups", os_error()));
    }
    // SAFETY: setgid/setuid take plain integers.
    if unsafe { libc::setgid(account.gid) } != 0 {
        return Err(fail("setgid", os_error()));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(account.uid) } != 0 {
        return Err(fail("setuid", os_error()));
    }
    // SAFETY: the getters cannot fail; setuid(0) must fail now that we are not root.
    let (uid, euid, gid, egid, regained) =
        unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid(), libc::setuid(0) == 0) };
    if uid != account.uid || euid != account.uid || gid != account.gid || egid != account.gid || regained {
        return Err(fail(
            "verify",
            format!("now uid {uid} euid {euid} gid {gid} egid {egid}, root regained: {regained}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Option<Account> {
        match name {
            "nobody" => Some(Account { name: "nobody".into(), uid: 65534, gid: 65534 }),
            "mail" => Some(Account { name: "mail".into(), uid: 8, gid: 8 }),
            "root" => Some(Account { name: "root".into(), uid: 0, gid: 0 }),
            _ => None,
        }
    }

    fn sudo(uid: &str, gid: &str) -> SudoEnv {
        SudoEnv { uid: Some(uid.into()), gid: Some(gid.into()), user: Some("alice".into()) }
    }

    #[test]
    fn user_option_wins_over_sudo() {
        assert_eq!(resolve(Some("mail"), &sudo("1000", "1000"), table).unwrap().uid, 8);
    }

    #[test]
    fn numeric_user_option_without_account() {
        assert_eq!(
            resolve(Some("4242"), &SudoEnv::default(), table),
            Ok(Account { name: "4242".into(), uid: 4242, gid: 4242 })
        );
    }

    #[test]
    fn unknown_user_option_is_an_error() {
        assert_eq!(resolve(Some("ghost"), &SudoEnv::default(), table), Err(PrivDropError::NoSuchUser("ghost".into())));
    }

    #[test]
    fn root_is_no_target() {
        assert!(matches!(resolve(Some("root"), &SudoEnv::default(), table), Err(PrivDropError::RootTarget(_))));
        assert!(matches!(resolve(Some("0"), &SudoEnv::default(), |_| None), Err(PrivDropError::RootTarget(_))));
    }

    #[test]
    fn sudo_caller_is_the_default() {
        assert_eq!(
            resolve(None, &sudo("1000", "1001"), table),
            Ok(Account { name: "alice".into(), uid: 1000, gid: 1001 })
        );
    }

    #[test]
    fn sudo_by_root_or_garbage_falls_back_to_nobody() {
        assert_eq!(resolve(None, &sudo("0", "0"), table).unwrap().name, "nobody");
        assert_eq!(resolve(None, &sudo("x", "y"), table).unwrap().name, "nobody");
        assert_eq!(resolve(None, &SudoEnv::default(), table).unwrap().uid, 65534);
    }

    #[test]
    fn sudo_without_gid_uses_uid() {
        let env = SudoEnv { uid: Some("1000".into()), gid: None, user: None };
        assert_eq!(resolve(None, &env, table), Ok(Account { name: "uid 1000".into(), uid: 1000, gid: 1000 }));
    }

    #[test]
    fn no_nobody_is_an_error() {
        assert_eq!(resolve(None, &SudoEnv::default(), |_| None), Err(PrivDropError::NoNobody));
    }

    #[test]
    fn system_lookup_finds_root() {
        let root = lookup_user("root").expect("every Unix has root");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup_user("no-such-user-smtpdiag"), None);
    }
}
