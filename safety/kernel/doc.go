// Package kernel is k2opt's oracle backed by the running kernel: it loads
// BPF objects through the real verifier (BPF_PROG_LOAD) and runs loaded
// programs with BPF_PROG_TEST_RUN. It is the only package besides bench that
// issues the bpf syscall.
//
// What it owns:
//   - Available: a cached probe of whether this process may load programs.
//   - Load/LoadFile/LoadSpec: every program of an object, each loaded on its
//     own against one shared set of maps, so one rejection never hides the
//     other verdicts. Each program gets a Verdict (accepted, rejected with
//     the verifier's reason and log tail, or not loadable standalone).
//   - A raw loader for programs cilium/ebpf v0.22 cannot encode (arena code:
//     addr_space_cast is an ALU64 MOV whose offset cilium zeroes). See raw.go.
//   - TestRun: BPF_PROG_TEST_RUN with data/ctx in and out, repeat, flags.
//   - Snapshot/Restore: dump and write back map contents around a run.
//
// Replaced instructions reach the kernel as object bytes: the object writer
// produces a .o and Load verifies it, so map, kfunc, CO-RE and BTF
// relocations are always the ELF's. (LoadSpec also takes a CollectionSpec
// whose ProgramSpec.Instructions were edited at the cilium/ebpf level.)
//
// Invariants: every fd is owned by an Object and released by Object.Close;
// programs are loaded with the kernel's native byte order only.
//
// Not supported: module kfuncs, ksyms and CO-RE against module BTF in the raw
// loader; struct_ops programs (they load together with their struct_ops map);
// freplace programs whose target is not in the same object.
package kernel
