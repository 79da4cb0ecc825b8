/**
 * The build sandbox's seccomp filter, assembled here as a classic-BPF program (the raw
 * `struct sock_filter` array bwrap's `--seccomp FD` reads) — no compiler, no native module.
 *
 * The policy is Flatpak's denylist (flatpak-run.c, `setup_seccomp`), widened a little:
 * - only x86_64 and aarch64 system calls run; any other ABI kills the process — on x86_64 that
 *   includes the 32-bit ABIs (i386 through `int 0x80`, x32 through the X32 bit), whose syscall
 *   numbers differ and would walk around the denylist;
 * - kernel keyring, NUMA policy, namespaces, mounts, modules, kexec, bpf, perf, ptrace, reboot,
 *   swap, clock setting… → EPERM;
 * - the new mount API → ENOSYS (as if the kernel were older), and `clone3` → ENOSYS too: its
 *   flags sit in a struct seccomp cannot read, and libc falls back to `clone` on ENOSYS;
 * - io_uring (setup, enter, register) → ENOSYS: a known sandbox-escape surface that Docker's
 *   default profile blocks as well; libuv and liburing users fall back to ordinary I/O;
 * - `clone` with CLONE_NEWUSER and `ioctl` TIOCSTI / TIOCLINUX (typing into a terminal) → EPERM;
 * - everything else is allowed. A denylist misses syscalls newer than itself; the namespaces and
 *   dropped capabilities around the build are the main wall, this is the second one.
 */

// seccomp_data (include/uapi/linux/seccomp.h): nr u32 @0, arch u32 @4, ip u64 @8, args u64[6] @16.
const DATA_NR = 0;
const DATA_ARCH = 4;
/** The low 32 bits of argument `i` (little-endian: both supported arches are). */
const dataArgLow = (i: number): number => 16 + 8 * i;

// Opcodes (include/uapi/linux/bpf_common.h).
const BPF_LD_W_ABS = 0x00 | 0x00 | 0x20;
const BPF_JMP_JA = 0x05 | 0x00;
const BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00;
const BPF_JMP_JSET_K = 0x05 | 0x40 | 0x00;
const BPF_RET_K = 0x06 | 0x00;

// Return actions (include/uapi/linux/seccomp.h).
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
export const retErrno = (errno: number): number => (SECCOMP_RET_ERRNO | errno) >>> 0;

// include/uapi/linux/audit.h
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** arch/x86/include/uapi/asm/unistd.h: set in the number of an x32 syscall. */
const X32_SYSCALL_BIT = 0x40000000;

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// ---------------------------------------------------------------------------------------------
// A tiny assembler: instructions may name a label as a jump target; `assemble` resolves them.

type Target = number | string;
type Statement =
  { label: string } | { code: number; k: number; jt?: Target; jf?: Target; ja?: string };

export const asm = {
  label: (label: string): Statement => ({ label }),
  load: (offset: number): Statement => ({ code: BPF_LD_W_ABS, k: offset }),
  /** if (A == k) goto jt else goto jf; a target is a label or 0 for "the next instruction". */
  jeq: (k: number, jt: Target, jf: Target = 0): Statement => ({ code: BPF_JMP_JEQ_K, k, jt, jf }),
  /** if (A & k) goto jt else goto jf. */
  jset: (k: number, jt: Target, jf: Target = 0): Statement => ({
    code: BPF_JMP_JSET_K,
    k,
    jt,
    jf,
  }),
  /** goto label, with a 32-bit offset (conditional jumps reach only 255 instructions). */
  ja: (label: string): Statement => ({ code: BPF_JMP_JA, k: 0, ja: label }),
  ret: (action: number): Statement => ({ code: BPF_RET_K, k: action >>> 0 }),
};

export function assemble(statements: readonly Statement[]): SockFilter[] {
  const labels = new Map<string, number>();
  let count = 0;
  for (const s of statements) {
    if ("label" in s) {
      if (labels.has(s.label)) throw new Error(`seccomp: label ${s.label} defined twice`);
      labels.set(s.label, count);
    } else count++;
  }
  const program: SockFilter[] = [];
  for (const s of statements) {
    if ("label" in s) continue;
    const here = program.length;
    const offset = (target: Target | undefined): number => {
      if (target === undefined) return 0;
      if (typeof target === "number") return target;
      const at = labels.get(target);
      if (at === undefined) throw new Error(`seccomp: unknown label ${target}`);
      const jump = at - here - 1;
      if (jump < 0) throw new Error(`seccomp: backward jump to ${target}`);
      return jump;
    };
    const k = s.ja !== undefined ? offset(s.ja) : s.k;
    const jt = offset(s.jt);
    const jf = offset(s.jf);
    if (jt > 255 || jf > 255) throw new Error("seccomp: conditional jump too far (use ja)");
    program.push({ code: s.code, jt, jf, k });
  }
  if (program.length > 4096) throw new Error("seccomp: program longer than BPF_MAXINSNS");
  return program;
}

/** `struct sock_filter[]` as the kernel (and bwrap) read it: u16 code, u8 jt, u8 jf, u32 k. */
export function encode(program: readonly SockFilter[]): Buffer {
  const buffer = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    buffer.writeUInt16LE(insn.code, i * 8);
    buffer.writeUInt8(insn.jt, i * 8 + 2);
    buffer.writeUInt8(insn.jf, i * 8 + 3);
    buffer.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buffer;
}

// ---------------------------------------------------------------------------------------------
// The policy

const DENY_EPERM = [
  "syslog",
  "uselib",
  "acct",
  "modify_ldt",
  "quotactl",
  "quotactl_fd",
  "add_key",
  "keyctl",
  "request_key",
  "move_pages",
  "mbind",
  "get_mempolicy",
  "set_mempolicy",
  "set_mempolicy_home_node",
  "migrate_pages",
  "unshare",
  "setns",
  "mount",
  "umount2",
  "pivot_root",
  "chroot",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "open_by_handle_at",
  "name_to_handle_at",
  "reboot",
  "swapon",
  "swapoff",
  "settimeofday",
  "clock_settime",
  "iopl",
  "ioperm",
] as const;

const DENY_ENOSYS = [
  "open_tree",
  "move_mount",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
  "clone3",
  // io_uring: a large, fast-moving attack surface behind a few syscalls (Docker's default profile
  // blocks it too); programs fall back to ordinary I/O on ENOSYS.
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
] as const;

type SyscallName = (typeof DENY_EPERM)[number] | (typeof DENY_ENOSYS)[number] | "clone" | "ioctl";

/**
 * Syscall numbers, from the kernel's tables: arch/x86/entry/syscalls/syscall_64.tbl (x86_64) and
 * include/uapi/asm-generic/unistd.h (aarch64). `undefined`: the syscall does not exist there.
 */
export const SYSCALLS: Record<SyscallName, { x86_64?: number; aarch64?: number }> = {
  ioctl: { x86_64: 16, aarch64: 29 },
  clone: { x86_64: 56, aarch64: 220 },
  clone3: { x86_64: 435, aarch64: 435 },
  syslog: { x86_64: 103, aarch64: 116 },
  uselib: { x86_64: 134 },
  acct: { x86_64: 163, aarch64: 89 },
  modify_ldt: { x86_64: 154 },
  quotactl: { x86_64: 179, aarch64: 60 },
  quotactl_fd: { x86_64: 443, aarch64: 443 },
  add_key: { x86_64: 248, aarch64: 217 },
  keyctl: { x86_64: 250, aarch64: 219 },
  request_key: { x86_64: 249, aarch64: 218 },
  move_pages: { x86_64: 279, aarch64: 239 },
  mbind: { x86_64: 237, aarch64: 235 },
  get_mempolicy: { x86_64: 239, aarch64: 236 },
  set_mempolicy: { x86_64: 238, aarch64: 237 },
  set_mempolicy_home_node: { x86_64: 450, aarch64: 450 },
  migrate_pages: { x86_64: 256, aarch64: 238 },
  unshare: { x86_64: 272, aarch64: 97 },
  setns: { x86_64: 308, aarch64: 268 },
  mount: { x86_64: 165, aarch64: 40 },
  umount2: { x86_64: 166, aarch64: 39 },
  pivot_root: { x86_64: 155, aarch64: 41 },
  chroot: { x86_64: 161, aarch64: 51 },
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  bpf: { x86_64: 321, aarch64: 280 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  userfaultfd: { x86_64: 323, aarch64: 282 },
  ptrace: { x86_64: 101, aarch64: 117 },
  process_vm_readv: { x86_64: 310, aarch64: 270 },
  process_vm_writev: { x86_64: 311, aarch64: 271 },
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
  name_to_handle_at: { x86_64: 303, aarch64: 264 },
  reboot: { x86_64: 169, aarch64: 142 },
  swapon: { x86_64: 167, aarch64: 224 },
  swapoff: { x86_64: 168, aarch64: 225 },
  settimeofday: { x86_64: 164, aarch64: 170 },
  clock_settime: { x86_64: 227, aarch64: 112 },
  iopl: { x86_64: 172 },
  ioperm: { x86_64: 173 },
  open_tree: { x86_64: 428, aarch64: 428 },
  move_mount: { x86_64: 429, aarch64: 429 },
  fsopen: { x86_64: 430, aarch64: 430 },
  fsconfig: { x86_64: 431, aarch64: 431 },
  fsmount: { x86_64: 432, aarch64: 432 },
  fspick: { x86_64: 433, aarch64: 433 },
  mount_setattr: { x86_64: 442, aarch64: 442 },
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
};

type Arch = "x86_64" | "aarch64";

/** The rules for one architecture; `p` prefixes its labels. */
function archSection(arch: Arch): Statement[] {
  const p = `${arch}:`;
  const nr = (name: SyscallName): number | undefined => SYSCALLS[name][arch];
  const out: Statement[] = [asm.label(p), asm.load(DATA_NR)];
  if (arch === "x86_64") out.push(asm.jset(X32_SYSCALL_BIT, `${p}kill`));
  out.push(asm.jeq(nr("clone")!, `${p}clone`), asm.jeq(nr("ioctl")!, `${p}ioctl`));
  for (const name of DENY_EPERM) {
    const n = nr(name);
    if (n !== undefined) out.push(asm.jeq(n, `${p}eperm`));
  }
  for (const name of DENY_ENOSYS) {
    const n = nr(name);
    if (n !== undefined) out.push(asm.jeq(n, `${p}enosys`));
  }
  out.push(
    asm.ret(SECCOMP_RET_ALLOW),
    asm.label(`${p}clone`),
    asm.load(dataArgLow(0)),
    asm.jset(CLONE_NEWUSER, `${p}eperm`),
    asm.ret(SECCOMP_RET_ALLOW),
    // ioctl's request is an unsigned int: the low word is all the kernel looks at.
    asm.label(`${p}ioctl`),
    asm.load(dataArgLow(1)),
    asm.jeq(TIOCSTI, `${p}eperm`),
    asm.jeq(TIOCLINUX, `${p}eperm`),
    asm.ret(SECCOMP_RET_ALLOW),
    asm.label(`${p}kill`),
    asm.ret(SECCOMP_RET_KILL_PROCESS),
    asm.label(`${p}eperm`),
    asm.ret(retErrno(EPERM)),
    asm.label(`${p}enosys`),
    asm.ret(retErrno(ENOSYS)),
  );
  return out;
}

/** The whole filter: dispatch on the architecture, then that architecture's rules. */
export function buildSandboxFilter(): SockFilter[] {
  return assemble([
    asm.load(DATA_ARCH),
    asm.jeq(AUDIT_ARCH_X86_64, 0, "not-x86_64"),
    asm.ja("x86_64:"),
    asm.label("not-x86_64"),
    asm.jeq(AUDIT_ARCH_AARCH64, 0, "other-arch"),
    asm.ja("aarch64:"),
    asm.label("other-arch"),
    // Including i386 syscalls (`int 0x80`) on an x86_64 kernel: their numbers differ from the
    // table's, so they are never checked, only killed (an errno could leave `exit` spinning).
    asm.ret(SECCOMP_RET_KILL_PROCESS),
    ...archSection("x86_64"),
    ...archSection("aarch64"),
  ]);
}

let encoded: Buffer | undefined;

/** The filter as bytes for bwrap's `--seccomp FD` (built once). */
export function sandboxSeccompFilter(): Buffer {
  encoded ??= encode(buildSandboxFilter());
  return encoded;
}
