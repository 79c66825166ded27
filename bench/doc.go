// Package bench measures BPF programs in the running kernel: latency with
// BPF_PROG_TEST_RUN on generated inputs, JIT image size, translated size and
// the verifier's processed-instruction count, before and after
// optimization. It owns the statistics (median, mean and a Student-t
// confidence interval over trials) and the reports (table, plot).
//
// Method: every program runs on the same inputs (packets from
// interp.GenPacket, one per packet shape the generator knows, the ones the
// test run refuses left out). One trial is, for every input, one
// BPF_PROG_TEST_RUN with Options.Repeat runs on the original and one on the
// optimized object, back to back in alternating order; a trial's value is
// the kernel-measured mean ns/run over the inputs. The change is computed per trial (paired),
// so drift that affects both sides cancels.
//
// What it does not do: programs the kernel cannot test-run (kprobe,
// tracepoint, cgroup sock hooks) are listed with sizes only; map state is
// not reset between runs (both sides start from the object's initial
// contents and see the same inputs); the kernel's timer has a floor of
// ~26-31 ns per run here, so differences of a few instructions are
// within the interval.
package bench
