//! `Tun`: the Linux TUN device, opened with ioctl(2) on `/dev/net/tun` (no packet-info
//! header), optionally with offload: `IFF_VNET_HDR` and `TUNSETOFFLOAD`.
//!
//! This is the one module with `unsafe`: opening the device (TUNSETIFF, TUNSETOFFLOAD),
//! reading and writing with the virtio header in front (readv/writev), and configuring the
//! kernel side (address, netmask, MTU, up) take system calls that no safe crate in our
//! dependency set wraps. Each `unsafe` block is a single system call on fully initialised
//! memory that lives across the call; its comment says why that is enough.
//!
//! With offload on, every packet read or written carries the 10-octet `virtio_net_hdr`
//! ([`crate::wire::vnet`]), and the kernel may hand us TCP super-segments of up to 64 KB
//! (`TUN_F_TSO4 | TUN_F_TSO6`) whose checksum it did not compute (`TUN_F_CSUM`): that is
//! what "past the per-packet syscall" means on receive. Where the kernel accepts it (Linux
//! 6.2 and later), UDP segmentation too (`TUN_F_USO4 | TUN_F_USO6`): a local sender's
//! `UDP_SEGMENT` burst arrives as one super-datagram, which the stack takes as the datagrams
//! it stands for (`link/gso.rs`).

#![allow(unsafe_code)]

mod configure;

use configure::{configure, ifreq_for};
pub use configure::{device_mtu, wait_readable};

use super::{ChecksumState, Gso, Link, PacketDesc};
use crate::time::Instant;
use crate::wire::DropCounters;
use crate::wire::vnet::{self, RxChecksum, VirtioNetHdr};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Why the device could not be opened or configured, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// EPERM/EACCES: the process may not create or attach to the device.
    #[error(
        "no permission to use /dev/net/tun for {dev}: run with sudo, grant CAP_NET_ADMIN \
         (setcap cap_net_admin+ep $(which tunstack)), or create a persistent device with \
         `ip tuntap add {dev} mode tun user $USER` and pass --no-configure"
    )]
    Permission {
        /// The device name asked for.
        dev: String,
    },
    /// EBUSY: another process holds the device.
    #[error(
        "device {dev} is busy: another process (another tunstack?) holds it; stop that \
         process or pick another name with --dev"
    )]
    Busy {
        /// The device name asked for.
        dev: String,
    },
    /// ENOENT/ENODEV: /dev/net/tun does not exist.
    #[error("/dev/net/tun is missing: load the tun module (`modprobe tun`)")]
    NoTunModule,
    /// Any other failure to open the device or make it non-blocking.
    #[error("opening TUN device {dev}: {source}")]
    Open {
        /// The device name asked for.
        dev: String,
        /// The OS error.
        source: io::Error,
    },
    /// IPv6 is off for the device (the namespace or host set `disable_ipv6`, or the kernel
    /// has no IPv6), so the kernel side cannot get its IPv6 address.
    #[error(
        "IPv6 is disabled for {dev} ({detail}): enable it (sysctl -w \
         net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0) or run \
         with --no-ipv6"
    )]
    Ipv6Disabled {
        /// The device being configured.
        dev: String,
        /// What was found (`disable_ipv6 = 1`, or no IPv6 in the kernel).
        detail: String,
    },
    /// `--offload on` and the kernel refused the offload settings.
    #[error(
        "the kernel refused offload on {dev} ({source}): run with --offload auto (falls \
         back to plain packets) or --offload off"
    )]
    Offload {
        /// The device name asked for.
        dev: String,
        /// The OS error of IFF_VNET_HDR or TUNSETOFFLOAD.
        source: io::Error,
    },
    /// Setting up the kernel side (a socket(2) or ioctl(2) call) failed.
    #[error("configuring {dev} ({what}): {source}")]
    Configure {
        /// The device being configured.
        dev: String,
        /// Which step failed: `socket`, `address`, `netmask`, `mtu`, `read flags`, `bring up`.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Whether to open the device with offload (`--offload`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffloadMode {
    /// On when the kernel accepts it, else plain packets (the default).
    #[default]
    Auto,
    /// On, or the device does not open.
    On,
    /// Plain packets, no virtio header.
    Off,
}

/// Packets with a bad virtio header one `recv` skips before it returns `None`.
const MAX_SKIPPED_PER_RECV: usize = 64;

/// The offloads the kernel accepted for us, in `TUNSETOFFLOAD` terms.
const RX_OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
/// `TUN_F_USO4 | TUN_F_USO6` (linux/if_tun.h, Linux 6.2), asked for on top where accepted.
const RX_USO: libc::c_uint = 0x20 | 0x40;

/// What the device does, for the startup line and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffloadState {
    /// Plain packets: asked for (`--offload off`).
    Off,
    /// Plain packets: `--offload auto` and the kernel refused; the error says why.
    Refused(String),
    /// The virtio header on every packet; the kernel may send us TCP super-segments with
    /// partial checksums. `gso_writes`: whether the kernel takes our super-segments (the
    /// startup probe; `None` until probed).
    On {
        /// The probe's result.
        gso_writes: Option<bool>,
    },
}

impl std::fmt::Display for OffloadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OffloadState::Off => f.write_str("off (--offload off)"),
            OffloadState::Refused(why) => {
                write!(f, "off (the kernel refused it: {why}; plain packets)")
            }
            OffloadState::On { gso_writes } => {
                f.write_str("on (IFF_VNET_HDR, TUN_F_CSUM|TSO4|TSO6: TCP super-segments in")?;
                match gso_writes {
                    Some(false) => f.write_str(
                        "; the kernel rejects GSO writes with EINVAL (the 6.6.44/6.10.3 \
                         regression): plain packets out)",
                    ),
                    Some(true) => f.write_str("; TCP super-segments out, TSO)"),
                    None => f.write_str("; plain packets out)"),
                }
            }
        }
    }
}

/// A TUN device carrying raw IP packets, with or without the virtio header.
pub struct Tun {
    fd: OwnedFd,
    name: String,
    state: OffloadState,
    /// Headers from the kernel that did not make sense (`virtio-*`).
    drops: DropCounters,
    /// The kernel accepted UDP segmentation offload (USO) too.
    uso: bool,
}

impl Tun {
    /// Opens (creating if needed) the TUN device `name` in non-blocking mode, plain packets.
    pub fn open(name: &str) -> Result<Tun, TunError> {
        Tun::open_with(name, OffloadMode::Off)
    }

    /// Opens (creating if needed) the TUN device `name` in non-blocking mode, with offload
    /// as `mode` asks. With `Auto`, a kernel that refuses `IFF_VNET_HDR` or the offloads
    /// gets a device reopened without them ([`offload`](Self::offload) says why).
    pub fn open_with(name: &str, mode: OffloadMode) -> Result<Tun, TunError> {
        if mode == OffloadMode::Off {
            let fd = open_device(name, false)?;
            return Ok(Tun::new(fd, OffloadState::Off));
        }
        let fd = open_device(name, true)?;
        match enable_offload(&fd.0) {
            Ok(uso) => {
                let mut tun = Tun::new(fd, OffloadState::On { gso_writes: None });
                tun.uso = uso;
                Ok(tun)
            }
            Err(source) if mode == OffloadMode::On => Err(TunError::Offload {
                dev: name.to_string(),
                source,
            }),
            Err(e) => {
                // Closing the descriptor removes a device we created; reopen it plain.
                drop(fd);
                let fd = open_device(name, false)?;
                Ok(Tun::new(fd, OffloadState::Refused(e.to_string())))
            }
        }
    }

    /// Whether the kernel may hand us UDP super-datagrams (USO accepted).
    #[must_use]
    pub fn uso(&self) -> bool {
        self.uso
    }

    fn new((fd, name): (OwnedFd, String), state: OffloadState) -> Tun {
        Tun {
            fd,
            name,
            state,
            drops: DropCounters::default(),
            uso: false,
        }
    }

    /// The kernel's name for the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether offload is on, and why not when it is off.
    pub fn offload(&self) -> &OffloadState {
        &self.state
    }

    /// Packets dropped here because their virtio header did not make sense.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// Gives the kernel side of the device an address, a netmask and an MTU, and brings it
    /// up. Equivalent to `ip addr add ADDR/PREFIX dev NAME; ip link set NAME mtu MTU up`.
    pub fn configure(&self, addr: Ipv4Addr, prefix: u8, mtu: u32) -> Result<(), TunError> {
        configure(self.name(), addr, prefix, mtu, None)
    }

    /// Like [`configure`](Self::configure), and also gives the kernel side the IPv6 address
    /// `addr6/prefix6` (`ip -6 addr add`). Before the device comes up, duplicate address
    /// detection, router solicitations and router advertisements are turned off for it, so
    /// the address is usable at once and the kernel does not solicit routers from us.
    pub fn configure_dual(
        &self,
        v4: (Ipv4Addr, u8),
        v6: (Ipv6Addr, u8),
        mtu: u32,
    ) -> Result<(), TunError> {
        configure(self.name(), v4.0, v4.1, mtu, Some(v6))
    }

    /// The startup probe for kernels that reject GSO writes (Linux 6.6.44 and 6.10.3
    /// refused valid TCP GSO headers with EINVAL until the fix in the next releases): with
    /// offload on and the device up, writes one TCP super-segment of two 8-octet RST
    /// segments from `from` to `to` (port 1 to port 9: no socket, and a RST is never
    /// answered, so the kernel drops both quietly) and records whether the kernel took it.
    /// Returns the state; an error other than EINVAL is the device's and is returned.
    pub fn probe_gso_write(&mut self, from: Ipv4Addr, to: Ipv4Addr) -> io::Result<bool> {
        if !matches!(self.state, OffloadState::On { .. }) {
            return Ok(false);
        }
        let (packet, hdr) = gso_probe_packet(from, to);
        let ok = match self.write_with(&hdr, &packet) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => false,
            Err(e) => return Err(e),
        };
        self.state = OffloadState::On {
            gso_writes: Some(ok),
        };
        Ok(ok)
    }

    /// Whether the device takes TCP super-segments to split (offload on and the GSO-write
    /// probe passed): then the stack may build them (`StackConfig::tso`).
    pub fn takes_gso_writes(&self) -> bool {
        self.state
            == OffloadState::On {
                gso_writes: Some(true),
            }
    }

    /// For tests of the fallback on kernels that refuse GSO writes: records the probe as
    /// refused, as such a kernel would have answered it.
    #[doc(hidden)]
    pub fn assume_gso_writes_refused(&mut self) {
        if let OffloadState::On { .. } = self.state {
            self.state = OffloadState::On {
                gso_writes: Some(false),
            };
        }
    }

    fn vnet(&self) -> bool {
        matches!(self.state, OffloadState::On { .. })
    }

    /// One write(2) of `packet`, behind `hdr` when the device has the virtio header.
    fn write_with(&self, hdr: &VirtioNetHdr, packet: &[u8]) -> io::Result<()> {
        let hdr = hdr.to_bytes();
        let iovec = |p: &[u8]| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        };
        // No allocation per write: the header (with offload on) and the packet.
        let iov = [iovec(&hdr), iovec(packet)];
        let iov = if self.vnet() { &iov[..] } else { &iov[1..] };
        // SAFETY: `iov` points at live slices that outlast the call; writev only reads them.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), iov.len() as _) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// One read(2) into `buf` (behind a header buffer with offload on); the octets of the
    /// packet and its header.
    fn read_into(&self, buf: &mut [u8]) -> io::Result<(usize, [u8; vnet::HEADER_LEN])> {
        let mut hdr = [0u8; vnet::HEADER_LEN];
        let mut iov = [
            libc::iovec {
                iov_base: hdr.as_mut_ptr().cast(),
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
        ];
        let iov: &mut [libc::iovec] = if self.vnet() { &mut iov } else { &mut iov[1..] };
        // SAFETY: each iovec describes a live, writable buffer that outlasts the call;
        // readv writes at most iov_len octets into each.
        let n = unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), iov.len() as _) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if !self.vnet() {
            return Ok((n, hdr));
        }
        Ok((n.saturating_sub(vnet::HEADER_LEN), hdr))
    }
}

/// Opens /dev/net/tun and attaches it to `name` (TUNSETIFF: IFF_TUN | IFF_NO_PI, and
/// IFF_VNET_HDR when `vnet`), non-blocking. Returns the descriptor and the kernel's name.
fn open_device(name: &str, vnet: bool) -> Result<(OwnedFd, String), TunError> {
    let dev = name.to_string();
    let map = |e: io::Error| match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => TunError::Permission { dev: dev.clone() },
        Some(libc::EBUSY) => TunError::Busy { dev: dev.clone() },
        Some(libc::ENOENT) | Some(libc::ENODEV) => TunError::NoTunModule,
        _ => TunError::Open {
            dev: dev.clone(),
            source: e,
        },
    };
    // SAFETY: a NUL-terminated literal path; the result is checked and then owned.
    let raw = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(map(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = ifreq_for(name);
    let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
    if vnet {
        flags |= libc::IFF_VNET_HDR;
    }
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes the ifreq, which lives across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut req) };
    if rc < 0 {
        return Err(map(io::Error::last_os_error()));
    }
    let name: String = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    Ok((fd, name))
}

/// With IFF_VNET_HDR set: the header little-endian where the kernel can say so
/// (TUNSETVNETLE; on little-endian hosts it is anyway, so a refusal there is harmless), its
/// size 10 (TUNSETVNETHDRSZ), and the receive offloads (TUNSETOFFLOAD): with USO where the
/// kernel takes it (returns whether it did), else without.
fn enable_offload(fd: &OwnedFd) -> io::Result<bool> {
    let int_ioctl = |request: libc::Ioctl, value: libc::c_int| {
        // SAFETY: these requests read one int through the pointer, which lives across it.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, &value) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    if let Err(e) = int_ioctl(libc::TUNSETVNETLE, 1)
        && cfg!(target_endian = "big")
    {
        return Err(e);
    }
    int_ioctl(libc::TUNSETVNETHDRSZ, vnet::HEADER_LEN as libc::c_int)?;
    let set_offload = |flags: libc::c_uint| {
        // SAFETY: TUNSETOFFLOAD takes the flags as the argument itself, not a pointer.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETOFFLOAD as _,
                libc::c_ulong::from(flags),
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // Kernels before 6.2 refuse flags they do not know (EINVAL): then without USO.
    if set_offload(RX_OFFLOADS | RX_USO).is_ok() {
        return Ok(true);
    }
    set_offload(RX_OFFLOADS).map(|()| false)
}

/// The probe of [`Tun::probe_gso_write`]: IPv4 + TCP (RST|ACK, port 1 to 9) + 16 octets,
/// as a TCPV4 super-segment of two 8-octet segments with NEEDS_CSUM (the checksum field
/// holds the pseudo-header sum over the whole segment's length, as Linux expects).
fn gso_probe_packet(from: Ipv4Addr, to: Ipv4Addr) -> (Vec<u8>, VirtioNetHdr) {
    let mut p = vec![0u8; 20 + 20 + 16];
    let total = p.len() as u16;
    p[0] = 0x45;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&from.octets());
    p[16..20].copy_from_slice(&to.octets());
    let sum = crate::wire::internet_checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&sum);
    p[20..22].copy_from_slice(&1u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x14; // RST | ACK
    let pseudo = crate::wire::PseudoHeader::tcp(from, to);
    // The checksum field of an all-zero segment of this length holds the complement of the
    // pseudo-header sum, which is what a partial checksum is.
    let full = pseudo.checksum(&[&[0u8; 36][..]]);
    let partial = !u16::from_be_bytes(full);
    p[36..38].copy_from_slice(&partial.to_be_bytes());
    let hdr = VirtioNetHdr {
        flags: vnet::F_NEEDS_CSUM,
        gso_type: vnet::GSO_TCPV4,
        hdr_len: 40,
        gso_size: 8,
        csum_start: 20,
        csum_offset: 16,
    };
    (p, hdr)
}

impl Link for Tun {
    fn recv(&mut self, _now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        // Packets whose header fails are skipped, a bounded number per call: past it the
        // caller sees "nothing now" and comes back (the fd is still readable).
        for _ in 0..MAX_SKIPPED_PER_RECV {
            let (n, hdr) = match self.read_into(buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
                Err(e) => return Err(e),
            };
            if !self.vnet() {
                return Ok(Some(PacketDesc::plain(n)));
            }
            let hdr = VirtioNetHdr::from_bytes(&hdr);
            match vnet::decode(&hdr, &buf[..n]) {
                Ok(rx) => return Ok(Some(desc_from(n, rx))),
                Err(reason) => {
                    // A header we cannot believe: count it and read the next packet.
                    log::debug!("{}: drop: {reason} ({hdr:?})", self.name);
                    self.drops.count(reason);
                }
            }
        }
        Ok(None)
    }

    /// Without offload on the device a packet must be plain: nothing would tell the kernel
    /// to finish a checksum or split a super-segment. With offload, the descriptor becomes
    /// the virtio header (all zero for a plain packet).
    fn send(&mut self, _now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        let hdr = if self.vnet() {
            header_for(packet, desc)
        } else {
            debug_assert_eq!(desc, PacketDesc::plain(packet.len()), "plain packets only");
            VirtioNetHdr::PLAIN
        };
        match self.write_with(&hdr, packet) {
            Ok(()) => Ok(()),
            // A full device queue drops the packet, as a congested network would.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn summary(&self) -> Vec<String> {
        if self.drops.total() == 0 {
            return Vec::new();
        }
        let reasons: Vec<String> = self
            .drops
            .nonzero()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        vec![format!(
            "device {}: dropped {}",
            self.name,
            reasons.join(", ")
        )]
    }
}

/// The descriptor of a received packet whose header passed [`vnet::decode`].
fn desc_from(len: usize, rx: vnet::RxOffload) -> PacketDesc {
    PacketDesc {
        len,
        checksum: match rx.checksum {
            RxChecksum::Unverified => ChecksumState::Unverified,
            RxChecksum::Verified => ChecksumState::Verified,
            RxChecksum::Partial { start, offset } => ChecksumState::Partial { start, offset },
        },
        gso: match rx.gso {
            None => Gso::None,
            Some(g) if g.udp => Gso::Udp {
                size: g.size,
                header_len: g.header_len,
            },
            Some(g) => Gso::Tcp {
                size: g.size,
                header_len: g.header_len,
            },
        },
    }
}

/// The virtio header that tells the kernel what `desc` says about `packet`.
fn header_for(packet: &[u8], desc: PacketDesc) -> VirtioNetHdr {
    let mut hdr = VirtioNetHdr::PLAIN;
    if let ChecksumState::Partial { start, offset } = desc.checksum {
        hdr.flags = vnet::F_NEEDS_CSUM;
        hdr.csum_start = start;
        hdr.csum_offset = offset;
    }
    if let Gso::Tcp { size, header_len } = desc.gso {
        let v6 = packet.first().is_some_and(|b| b >> 4 == 6);
        hdr.gso_type = if v6 { vnet::GSO_TCPV6 } else { vnet::GSO_TCPV4 };
        hdr.gso_size = size;
        hdr.hdr_len = header_len;
    }
    hdr
}
