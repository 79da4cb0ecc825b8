import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runSandboxed } from "./run.ts";
import {
  asm,
  assemble,
  AUDIT_ARCH_X86_64,
  buildSandboxFilter,
  encode,
  retErrno,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SYSCALLS,
} from "./seccomp.ts";

describe("the seccomp assembler", () => {
  it("resolves labels into jump offsets, instruction by instruction", () => {
    const program = assemble([
      asm.load(4),
      asm.jeq(AUDIT_ARCH_X86_64, 0, "kill"),
      asm.load(0),
      asm.jeq(250, "deny"),
      asm.ja("allow"),
      asm.label("deny"),
      asm.ret(retErrno(1)),
      asm.label("allow"),
      asm.ret(SECCOMP_RET_ALLOW),
      asm.label("kill"),
      asm.ret(SECCOMP_RET_KILL_PROCESS),
    ]);
    assert.deepEqual(program, [
      { code: 0x20, jt: 0, jf: 0, k: 4 }, // ld [4]  (arch)
      { code: 0x15, jt: 0, jf: 5, k: 0xc000003e }, // jeq x86_64, next, → 7
      { code: 0x20, jt: 0, jf: 0, k: 0 }, // ld [0]  (nr)
      { code: 0x15, jt: 1, jf: 0, k: 250 }, // jeq keyctl → 5
      { code: 0x05, jt: 0, jf: 0, k: 1 }, // ja → 6
      { code: 0x06, jt: 0, jf: 0, k: 0x00050001 }, // ret ERRNO(EPERM)
      { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 }, // ret ALLOW
      { code: 0x06, jt: 0, jf: 0, k: 0x80000000 }, // ret KILL_PROCESS
    ]);
  });

  it("encodes struct sock_filter: u16 code, u8 jt, u8 jf, u32 k, little-endian", () => {
    const bytes = encode([
      { code: 0x15, jt: 2, jf: 7, k: 0xc000003e },
      { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 },
    ]);
    assert.deepEqual(
      [...bytes],
      [
        0x15, 0x00, 0x02, 0x07, 0x3e, 0x00, 0x00, 0xc0, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
        0x7f,
      ],
    );
  });

  it("refuses unknown labels and conditional jumps beyond 255 instructions", () => {
    assert.throws(() => assemble([asm.jeq(1, "nowhere")]), /unknown label/);
    const far = [asm.jeq(1, "end"), ...Array.from({ length: 256 }, () => asm.ret(0))];
    assert.throws(() => assemble([...far, asm.label("end"), asm.ret(0)]), /too far/);
  });

  it("builds the sandbox filter: arch dispatch first, every instruction well-formed", () => {
    const program = buildSandboxFilter();
    assert.deepEqual(program[0], { code: 0x20, jt: 0, jf: 0, k: 4 });
    for (const [i, insn] of program.entries()) {
      // A jump never leaves the program (the kernel's verifier would refuse it).
      const reach = insn.code === 0x05 ? insn.k : Math.max(insn.jt, insn.jf);
      assert.ok(i + 1 + reach < program.length || insn.code === 0x06, `instruction ${i}`);
    }
    assert.equal(program.at(-1)?.code, 0x06, "the program ends with a return");
  });

  const headers = {
    x86_64: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    aarch64: "/usr/include/asm-generic/unistd.h",
  } as const;
  for (const [arch, header] of Object.entries(headers) as [keyof typeof headers, string][]) {
    it(
      `has the ${arch} syscall numbers of the kernel headers`,
      {
        skip: existsSync(header) ? false : `${header} is not installed (linux-libc-dev)`,
      },
      () => {
        const text = readFileSync(header, "utf8");
        for (const [name, numbers] of Object.entries(SYSCALLS)) {
          const found = new RegExp(`#define __NR_${name}\\s+(\\d+)\\b`).exec(text)?.[1];
          assert.equal(numbers[arch], found === undefined ? undefined : Number(found), name);
        }
      },
    );
  }
});

const hostArch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : null;
const skip =
  !existsSync("/usr/bin/bwrap") && !existsSync("/usr/local/bin/bwrap")
    ? "bubblewrap is not installed (apt-get install bubblewrap)"
    : process.getuid?.() !== 0
      ? "the sandbox runs builds as a pool uid and needs root"
      : hostArch === null
        ? `no syscall table for ${process.arch}`
        : !existsSync("/usr/bin/perl")
          ? "perl (Debian's essential perl-base) is needed to make raw syscalls"
          : false;

describe("the filter in a real sandbox", { skip }, () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-seccomp-test-"));
    await chmod(root, 0o711);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function sandboxed(command: string): Promise<{ code: number | null; text: string }> {
    const workDir = await mkdtemp(join(root, "work-"));
    await chmod(workDir, 0o755);
    const lines: string[] = [];
    const result = await runSandboxed({
      command,
      workDir,
      network: false,
      timeoutMs: 20_000,
      onLine: (l) => lines.push(l.line),
    });
    return { code: result.exitCode, text: lines.join("\n") };
  }

  /** A perl one-liner making syscall `name` with `args` and printing "<result> <errno text>". */
  const rawSyscall = (name: keyof typeof SYSCALLS, ...args: number[]): string => {
    const nr = SYSCALLS[name][hostArch!];
    assert.ok(nr !== undefined);
    return `perl -e 'my $r = syscall(${[nr, ...args].join(", ")}); print "${name}: $r $!\\n"'`;
  };

  it("is active, refuses what the denylist names, and leaves ordinary work alone", async () => {
    const { code, text } = await sandboxed(
      [
        "grep '^Seccomp:' /proc/self/status",
        "unshare --user true 2>&1 || true",
        "unshare -r true 2>&1 || true",
        rawSyscall("keyctl", 0, 0, 0, 0, 0),
        rawSyscall("ptrace", 0, 0, 0, 0),
        rawSyscall("mount", 0, 0, 0, 0, 0),
        rawSyscall("fsopen", 0, 0),
        rawSyscall("clone3", 0, 0),
        rawSyscall("io_uring_setup", 1, 0),
        rawSyscall("io_uring_enter", 0, 0, 0, 0, 0, 0),
        rawSyscall("io_uring_register", 0, 0, 0, 0),
        // CLONE_NEWUSER | SIGCHLD: refused; a plain fork through clone still works.
        rawSyscall("clone", 0x10000000 | 17, 0, 0, 0, 0),
        `perl -e 'open(my $f, "<", "/dev/null"); my $c = "x"; ioctl($f, 0x5412, $c) or print "TIOCSTI: $!\\n"'`,
        "echo forked | cat",
        "node -e 'console.log(\"node\", 6 * 7)'",
        "mkdir -p dist && echo ok > dist/index.html && cat dist/index.html",
      ].join("; "),
    );
    assert.equal(code, 0, text);
    assert.match(text, /^Seccomp:\s+2$/m);
    assert.equal(text.match(/unshare failed: Operation not permitted/g)?.length, 2, text);
    for (const name of ["keyctl", "ptrace", "mount", "clone"]) {
      assert.match(text, new RegExp(`^${name}: -1 Operation not permitted$`, "m"));
    }
    for (const name of [
      "fsopen",
      "clone3",
      "io_uring_setup",
      "io_uring_enter",
      "io_uring_register",
    ]) {
      assert.match(text, new RegExp(`^${name}: -1 Function not implemented$`, "m"));
    }
    assert.match(text, /^TIOCSTI: Operation not permitted$/m);
    assert.match(text, /^forked$/m);
    assert.match(text, /^node 42$/m);
    assert.match(text, /^ok$/m);
  });

  it(
    "kills a process that uses the x32 ABI to walk around the table",
    {
      skip: hostArch === "x86_64" ? false : "x32 exists only on x86_64",
    },
    async () => {
      // getpid (39) with the X32 bit: numbers under that bit are not the x86_64 ones.
      const { text } = await sandboxed(`perl -e 'syscall(0x40000000 | 39)'; echo "status $?"`);
      assert.match(text, /^status 159$/m); // 128 + SIGSYS
    },
  );
});
