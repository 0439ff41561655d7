//! The kernel side of the TUN device: address, netmask, MTU and up (SIOCSIF* ioctls on a
//! socket, as `ip addr` and `ip link` do), the IPv6 address and its per-device settings, the
//! MTU of an existing device, and the wait on descriptors (ppoll). Part of the one module
//! with `unsafe` (see the parent); each block is one system call on initialised memory.

use super::TunError;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(super) fn ifreq_for(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    req
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes) on Linux; this is how
    // the kernel's SIOCSIF* interface expects an IPv4 address.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn ioctl(sock: &OwnedFd, request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: `req` is a valid, initialised ifreq that lives across the call; the requests
    // used here read or write only the ifreq.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, req as *mut libc::ifreq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Per-device IPv6 settings, written before the device comes up: no duplicate address
/// detection (a point-to-point TUN has no one to collide with, and DAD would leave the
/// address tentative for a second), no router solicitations, no router advertisements.
fn prepare_ipv6(name: &str) -> Result<(), TunError> {
    let dir = std::path::Path::new("/proc/sys/net/ipv6/conf").join(name);
    let disabled = std::fs::read_to_string(dir.join("disable_ipv6"));
    let detail = match disabled {
        Ok(v) if v.trim() == "0" => None,
        Ok(_) => Some("disable_ipv6 = 1".to_string()),
        Err(_) => Some("the kernel has no IPv6 for it".to_string()),
    };
    if let Some(detail) = detail {
        return Err(TunError::Ipv6Disabled {
            dev: name.to_string(),
            detail,
        });
    }
    for (knob, value) in [
        ("accept_dad", "0"),
        ("router_solicitations", "0"),
        ("accept_ra", "0"),
    ] {
        // Best effort: a read-only /proc/sys leaves the kernel's defaults, which only cost
        // a tentative second and a few packets the stack drops quietly.
        if let Err(e) = std::fs::write(dir.join(knob), value) {
            log::debug!("{name}: could not set {knob}={value}: {e}");
        }
    }
    Ok(())
}

/// Adds `addr/prefix` to the device (SIOCSIFADDR on an AF_INET6 socket with an in6_ifreq).
fn add_ipv6_address(name: &str, addr: Ipv6Addr, prefix: u8) -> Result<(), TunError> {
    let fail = |what: &'static str| {
        move |source: io::Error| TunError::Configure {
            dev: name.to_string(),
            what,
            source,
        }
    };
    let cname = std::ffi::CString::new(name)
        .map_err(|_| fail("ipv6 address")(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: `cname` is a valid NUL-terminated string for the call's duration.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(fail("ipv6 address")(io::Error::last_os_error()));
    }
    // SAFETY: plain socket(2) call; the result is checked before use and owned afterwards.
    let raw = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail("ipv6 socket")(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr {
            s6_addr: addr.octets(),
        },
        ifr6_prefixlen: u32::from(prefix),
        ifr6_ifindex: index as libc::c_int,
    };
    // SAFETY: `req` is a valid, initialised in6_ifreq that lives across the call;
    // SIOCSIFADDR on an AF_INET6 socket reads exactly that struct.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFADDR as _,
            &mut req as *mut libc::in6_ifreq,
        )
    };
    if rc < 0 {
        return Err(fail("ipv6 address")(io::Error::last_os_error()));
    }
    Ok(())
}

pub(super) fn configure(
    name: &str,
    addr: Ipv4Addr,
    prefix: u8,
    mtu: u32,
    v6: Option<(Ipv6Addr, u8)>,
) -> Result<(), TunError> {
    let fail = |what: &'static str| {
        move |source: io::Error| TunError::Configure {
            dev: name.to_string(),
            what,
            source,
        }
    };
    // SAFETY: plain socket(2) call; the result is checked before use and owned afterwards.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail("socket")(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    let mut req = ifreq_for(name);
    req.ifr_ifru.ifru_addr = sockaddr_in(addr);
    ioctl(&sock, libc::SIOCSIFADDR, &mut req).map_err(fail("address"))?;

    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    let mut req = ifreq_for(name);
    req.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(mask));
    ioctl(&sock, libc::SIOCSIFNETMASK, &mut req).map_err(fail("netmask"))?;

    let mut req = ifreq_for(name);
    req.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    ioctl(&sock, libc::SIOCSIFMTU, &mut req).map_err(fail("mtu"))?;

    if let Some((addr6, prefix6)) = v6 {
        prepare_ipv6(name)?;
        add_ipv6_address(name, addr6, prefix6)?;
    }

    let mut req = ifreq_for(name);
    ioctl(&sock, libc::SIOCGIFFLAGS, &mut req).map_err(fail("read flags"))?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ioctl(&sock, libc::SIOCSIFFLAGS, &mut req).map_err(fail("bring up"))?;
    Ok(())
}

/// Waits until one of `fds` is readable or `timeout` passes (forever when `None`), with
/// microsecond precision (ppoll(2)), so the loop wakes neither early nor late for a deadline.
/// A signal ends the wait early; the caller checks its flags and loops.
pub fn wait_readable(fds: &[RawFd], timeout: Option<std::time::Duration>) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds for the call's duration; the
    // timespec is valid or null; no signal mask change.
    let rc = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Reads the MTU of an existing interface (for `--no-configure`).
pub fn device_mtu(name: &str) -> io::Result<u32> {
    // SAFETY: plain socket(2) call; checked, then owned.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = ifreq_for(name);
    ioctl(&sock, libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the mtu member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}
