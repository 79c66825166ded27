package interp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety/kernel"
)

// devmapProbe looks up the u32 key at packet[0] in map fd, writes the
// found value's first vs bytes (or 0xee bytes on a miss) to packet[4:],
// and returns bpf_redirect_map(map, key, XDP_PASS).
func devmapProbe(fd int32, vs int) []bpf.Insn {
	p := []bpf.Insn{
		bpf.LdxW(bpf.R7, bpf.R1, 0),
		bpf.LdxW(bpf.R3, bpf.R1, 4),
		bpf.Mov64Reg(bpf.R4, bpf.R7),
		bpf.Add64Imm(bpf.R4, 12),
		bpf.JleReg(bpf.R4, bpf.R3, 2),
		bpf.Mov64Imm(bpf.R0, 0),
		bpf.Exit(),
		bpf.LdxW(bpf.R2, bpf.R7, 0),
		bpf.StxW(bpf.R10, bpf.R2, -4),
		bpf.LdMapFD(bpf.R1, fd),
		bpf.Mov64Reg(bpf.R2, bpf.R10),
		bpf.Add64Imm(bpf.R2, -4),
		bpf.Call(hMapLookup),
		bpf.Mov64Imm(bpf.R2, -1),
		bpf.Mov64Imm(bpf.R3, -1),
		bpf.JeqImm(bpf.R0, 0, 2),
		bpf.LdxW(bpf.R2, bpf.R0, 0),
		bpf.Mov64Imm(bpf.R3, 0),
	}
	if vs == 8 {
		p = append(p, bpf.JeqImm(bpf.R0, 0, 1), bpf.LdxW(bpf.R3, bpf.R0, 4))
	}
	return append(p,
		bpf.StxW(bpf.R7, bpf.R2, 4),
		bpf.StxW(bpf.R7, bpf.R3, 8),
		bpf.LdxW(bpf.R2, bpf.R10, -4),
		bpf.LdMapFD(bpf.R1, fd),
		bpf.Mov64Imm(bpf.R3, 2),
		bpf.Call(hRedirectMap),
		bpf.Exit())
}

// TestDevmapKernel: devmap and devmap-hash lookups and redirect_map agree
// with the kernel (hit: the struct bpf_devmap_val user space stored, with
// prog id 0; miss, including DEVMAP keys beyond max_entries: NULL and the
// flags' action), and a store into a devmap value is refused by the
// verifier and faults in the interpreter.
func TestDevmapKernel(t *testing.T) {
	needKernel(t)
	tests := []struct {
		name string
		typ  ebpf.MapType
		vs   uint32
		keys []uint32
	}{
		{"devmap", ebpf.DevMap, 4, []uint32{0, 3, 7}},
		{"devmap 8-byte value", ebpf.DevMap, 8, []uint32{1, 5}},
		{"devmap hash", ebpf.DevMapHash, 4, []uint32{2, 1000, 1 << 31}},
	}
	probe := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 300, 1000, 1 << 31}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km, err := ebpf.NewMap(&ebpf.MapSpec{Type: tc.typ, KeySize: 4, ValueSize: tc.vs, MaxEntries: 8})
			if err != nil {
				t.Fatalf("create map: %v", err)
			}
			defer km.Close()
			spec := MapSpec{Name: "dev", Type: tc.typ, KeySize: 4, ValueSize: tc.vs, MaxEntries: 8}
			var kv []KV
			for _, k := range tc.keys {
				key := binary.NativeEndian.AppendUint32(nil, k)
				val := keyValue(&spec, key, nil)
				if val == nil {
					t.Fatalf("keyValue refused key %d", k)
				}
				if err := km.Update(key, val, ebpf.UpdateAny); err != nil {
					t.Fatalf("kernel refused entry %d: %v", k, err)
				}
				kv = append(kv, KV{Key: key, Value: val})
			}
			kp, err := loadRaw(t, ebpf.XDP, devmapProbe(int32(km.FD()), int(tc.vs)))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			defer kp.Close()
			p, err := NewProgram("devmap", ebpf.XDP, devmapProbe(0, int(tc.vs)), []MapSpec{spec})
			if err != nil {
				t.Fatal(err)
			}
			m := NewMachine(p, nil)
			hits := 0
			for _, k := range probe {
				pkt := make([]byte, 16)
				binary.NativeEndian.PutUint32(pkt, k)
				in := &Input{Packet: pkt, Ctx: KernelCtx(nil, ebpf.XDP, pkt), Maps: [][]KV{kv}}
				kr, err := kernel.TestRun(kp, kernel.RunOptions{Data: pkt})
				if err != nil {
					t.Fatalf("key %d: test run: %v", k, err)
				}
				out := m.Run(in)
				if !out.Fault.Ok() {
					t.Fatalf("key %d: interpreter fault %v", k, out.Fault)
				}
				if uint32(out.R0) != kr.Retval || !bytes.Equal(out.Packet, kr.DataOut) {
					t.Errorf("key %d: kernel r0 %d packet %x, interp r0 %d packet %x", k, kr.Retval, kr.DataOut, out.R0, out.Packet)
				}
				if out.R0 == xdpRedirect {
					hits++
				}
			}
			if hits != len(tc.keys) {
				t.Errorf("%d of %d stored keys hit", hits, len(tc.keys))
			}
		})
	}
	// a store into the value: the verifier refuses it, the interpreter faults
	km, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 8})
	if err != nil {
		t.Fatalf("create map: %v", err)
	}
	defer km.Close()
	store := func(fd int32) []bpf.Insn {
		return []bpf.Insn{
			bpf.StW(bpf.R10, -4, 0), bpf.LdMapFD(bpf.R1, fd), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -4),
			bpf.Call(hMapLookup), bpf.JeqImm(bpf.R0, 0, 1), bpf.StW(bpf.R0, 0, 2), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(),
		}
	}
	if kp, err := loadRaw(t, ebpf.XDP, store(int32(km.FD()))); err == nil {
		kp.Close()
		t.Errorf("kernel accepted a store into a devmap value")
	}
	spec := MapSpec{Name: "dev", Type: ebpf.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 8}
	p, err := NewProgram("devmap-store", ebpf.XDP, store(0), []MapSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 16)
	key := []byte{0, 0, 0, 0}
	out := NewMachine(p, nil).Run(&Input{Packet: pkt, Ctx: KernelCtx(nil, ebpf.XDP, pkt), Maps: [][]KV{{{Key: key, Value: keyValue(&spec, key, nil)}}}})
	if out.Fault.Kind != FaultReadOnly {
		t.Errorf("store into a devmap value: fault %v, want %v", out.Fault, FaultReadOnly)
	}
}
