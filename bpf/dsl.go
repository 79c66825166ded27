package bpf

// Constructors that read like assembly, for tests and the DSL of other
// packages: Mov64Imm(R0, 1), Add64Reg(R1, R2), LdxW(R0, R1, 4),
// JeqImm(R1, 0, off), Exit(). Each is New with the op's row, so the
// encoding comes from the table.

// Add64Imm is the 64-bit ALU op with an immediate operand.
func Add64Imm(dst Reg, imm int32) Insn { return New(OpAdd64Imm, dst, 0, 0, imm) }

// Add64Reg is the 64-bit ALU op with a register operand.
func Add64Reg(dst, src Reg) Insn { return New(OpAdd64Reg, dst, src, 0, 0) }

// Add32Imm is the 32-bit ALU op with an immediate operand.
func Add32Imm(dst Reg, imm int32) Insn { return New(OpAdd32Imm, dst, 0, 0, imm) }

// Add32Reg is the 32-bit ALU op with a register operand.
func Add32Reg(dst, src Reg) Insn { return New(OpAdd32Reg, dst, src, 0, 0) }

// Sub64Imm is the 64-bit ALU op with an immediate operand.
func Sub64Imm(dst Reg, imm int32) Insn { return New(OpSub64Imm, dst, 0, 0, imm) }

// Sub64Reg is the 64-bit ALU op with a register operand.
func Sub64Reg(dst, src Reg) Insn { return New(OpSub64Reg, dst, src, 0, 0) }

// Sub32Imm is the 32-bit ALU op with an immediate operand.
func Sub32Imm(dst Reg, imm int32) Insn { return New(OpSub32Imm, dst, 0, 0, imm) }

// Sub32Reg is the 32-bit ALU op with a register operand.
func Sub32Reg(dst, src Reg) Insn { return New(OpSub32Reg, dst, src, 0, 0) }

// Mul64Imm is the 64-bit ALU op with an immediate operand.
func Mul64Imm(dst Reg, imm int32) Insn { return New(OpMul64Imm, dst, 0, 0, imm) }

// Mul64Reg is the 64-bit ALU op with a register operand.
func Mul64Reg(dst, src Reg) Insn { return New(OpMul64Reg, dst, src, 0, 0) }

// Mul32Imm is the 32-bit ALU op with an immediate operand.
func Mul32Imm(dst Reg, imm int32) Insn { return New(OpMul32Imm, dst, 0, 0, imm) }

// Mul32Reg is the 32-bit ALU op with a register operand.
func Mul32Reg(dst, src Reg) Insn { return New(OpMul32Reg, dst, src, 0, 0) }

// Div64Imm is the 64-bit ALU op with an immediate operand.
func Div64Imm(dst Reg, imm int32) Insn { return New(OpDiv64Imm, dst, 0, 0, imm) }

// Div64Reg is the 64-bit ALU op with a register operand.
func Div64Reg(dst, src Reg) Insn { return New(OpDiv64Reg, dst, src, 0, 0) }

// Div32Imm is the 32-bit ALU op with an immediate operand.
func Div32Imm(dst Reg, imm int32) Insn { return New(OpDiv32Imm, dst, 0, 0, imm) }

// Div32Reg is the 32-bit ALU op with a register operand.
func Div32Reg(dst, src Reg) Insn { return New(OpDiv32Reg, dst, src, 0, 0) }

// SDiv64Imm is the 64-bit ALU op with an immediate operand.
func SDiv64Imm(dst Reg, imm int32) Insn { return New(OpSDiv64Imm, dst, 0, 0, imm) }

// SDiv64Reg is the 64-bit ALU op with a register operand.
func SDiv64Reg(dst, src Reg) Insn { return New(OpSDiv64Reg, dst, src, 0, 0) }

// SDiv32Imm is the 32-bit ALU op with an immediate operand.
func SDiv32Imm(dst Reg, imm int32) Insn { return New(OpSDiv32Imm, dst, 0, 0, imm) }

// SDiv32Reg is the 32-bit ALU op with a register operand.
func SDiv32Reg(dst, src Reg) Insn { return New(OpSDiv32Reg, dst, src, 0, 0) }

// Or64Imm is the 64-bit ALU op with an immediate operand.
func Or64Imm(dst Reg, imm int32) Insn { return New(OpOr64Imm, dst, 0, 0, imm) }

// Or64Reg is the 64-bit ALU op with a register operand.
func Or64Reg(dst, src Reg) Insn { return New(OpOr64Reg, dst, src, 0, 0) }

// Or32Imm is the 32-bit ALU op with an immediate operand.
func Or32Imm(dst Reg, imm int32) Insn { return New(OpOr32Imm, dst, 0, 0, imm) }

// Or32Reg is the 32-bit ALU op with a register operand.
func Or32Reg(dst, src Reg) Insn { return New(OpOr32Reg, dst, src, 0, 0) }

// And64Imm is the 64-bit ALU op with an immediate operand.
func And64Imm(dst Reg, imm int32) Insn { return New(OpAnd64Imm, dst, 0, 0, imm) }

// And64Reg is the 64-bit ALU op with a register operand.
func And64Reg(dst, src Reg) Insn { return New(OpAnd64Reg, dst, src, 0, 0) }

// And32Imm is the 32-bit ALU op with an immediate operand.
func And32Imm(dst Reg, imm int32) Insn { return New(OpAnd32Imm, dst, 0, 0, imm) }

// And32Reg is the 32-bit ALU op with a register operand.
func And32Reg(dst, src Reg) Insn { return New(OpAnd32Reg, dst, src, 0, 0) }

// Lsh64Imm is the 64-bit ALU op with an immediate operand.
func Lsh64Imm(dst Reg, imm int32) Insn { return New(OpLsh64Imm, dst, 0, 0, imm) }

// Lsh64Reg is the 64-bit ALU op with a register operand.
func Lsh64Reg(dst, src Reg) Insn { return New(OpLsh64Reg, dst, src, 0, 0) }

// Lsh32Imm is the 32-bit ALU op with an immediate operand.
func Lsh32Imm(dst Reg, imm int32) Insn { return New(OpLsh32Imm, dst, 0, 0, imm) }

// Lsh32Reg is the 32-bit ALU op with a register operand.
func Lsh32Reg(dst, src Reg) Insn { return New(OpLsh32Reg, dst, src, 0, 0) }

// Rsh64Imm is the 64-bit ALU op with an immediate operand.
func Rsh64Imm(dst Reg, imm int32) Insn { return New(OpRsh64Imm, dst, 0, 0, imm) }

// Rsh64Reg is the 64-bit ALU op with a register operand.
func Rsh64Reg(dst, src Reg) Insn { return New(OpRsh64Reg, dst, src, 0, 0) }

// Rsh32Imm is the 32-bit ALU op with an immediate operand.
func Rsh32Imm(dst Reg, imm int32) Insn { return New(OpRsh32Imm, dst, 0, 0, imm) }

// Rsh32Reg is the 32-bit ALU op with a register operand.
func Rsh32Reg(dst, src Reg) Insn { return New(OpRsh32Reg, dst, src, 0, 0) }

// Mod64Imm is the 64-bit ALU op with an immediate operand.
func Mod64Imm(dst Reg, imm int32) Insn { return New(OpMod64Imm, dst, 0, 0, imm) }

// Mod64Reg is the 64-bit ALU op with a register operand.
func Mod64Reg(dst, src Reg) Insn { return New(OpMod64Reg, dst, src, 0, 0) }

// Mod32Imm is the 32-bit ALU op with an immediate operand.
func Mod32Imm(dst Reg, imm int32) Insn { return New(OpMod32Imm, dst, 0, 0, imm) }

// Mod32Reg is the 32-bit ALU op with a register operand.
func Mod32Reg(dst, src Reg) Insn { return New(OpMod32Reg, dst, src, 0, 0) }

// SMod64Imm is the 64-bit ALU op with an immediate operand.
func SMod64Imm(dst Reg, imm int32) Insn { return New(OpSMod64Imm, dst, 0, 0, imm) }

// SMod64Reg is the 64-bit ALU op with a register operand.
func SMod64Reg(dst, src Reg) Insn { return New(OpSMod64Reg, dst, src, 0, 0) }

// SMod32Imm is the 32-bit ALU op with an immediate operand.
func SMod32Imm(dst Reg, imm int32) Insn { return New(OpSMod32Imm, dst, 0, 0, imm) }

// SMod32Reg is the 32-bit ALU op with a register operand.
func SMod32Reg(dst, src Reg) Insn { return New(OpSMod32Reg, dst, src, 0, 0) }

// Xor64Imm is the 64-bit ALU op with an immediate operand.
func Xor64Imm(dst Reg, imm int32) Insn { return New(OpXor64Imm, dst, 0, 0, imm) }

// Xor64Reg is the 64-bit ALU op with a register operand.
func Xor64Reg(dst, src Reg) Insn { return New(OpXor64Reg, dst, src, 0, 0) }

// Xor32Imm is the 32-bit ALU op with an immediate operand.
func Xor32Imm(dst Reg, imm int32) Insn { return New(OpXor32Imm, dst, 0, 0, imm) }

// Xor32Reg is the 32-bit ALU op with a register operand.
func Xor32Reg(dst, src Reg) Insn { return New(OpXor32Reg, dst, src, 0, 0) }

// Mov64Imm is the 64-bit ALU op with an immediate operand.
func Mov64Imm(dst Reg, imm int32) Insn { return New(OpMov64Imm, dst, 0, 0, imm) }

// Mov64Reg is the 64-bit ALU op with a register operand.
func Mov64Reg(dst, src Reg) Insn { return New(OpMov64Reg, dst, src, 0, 0) }

// Mov32Imm is the 32-bit ALU op with an immediate operand.
func Mov32Imm(dst Reg, imm int32) Insn { return New(OpMov32Imm, dst, 0, 0, imm) }

// Mov32Reg is the 32-bit ALU op with a register operand.
func Mov32Reg(dst, src Reg) Insn { return New(OpMov32Reg, dst, src, 0, 0) }

// Arsh64Imm is the 64-bit ALU op with an immediate operand.
func Arsh64Imm(dst Reg, imm int32) Insn { return New(OpArsh64Imm, dst, 0, 0, imm) }

// Arsh64Reg is the 64-bit ALU op with a register operand.
func Arsh64Reg(dst, src Reg) Insn { return New(OpArsh64Reg, dst, src, 0, 0) }

// Arsh32Imm is the 32-bit ALU op with an immediate operand.
func Arsh32Imm(dst Reg, imm int32) Insn { return New(OpArsh32Imm, dst, 0, 0, imm) }

// Arsh32Reg is the 32-bit ALU op with a register operand.
func Arsh32Reg(dst, src Reg) Insn { return New(OpArsh32Reg, dst, src, 0, 0) }

// JeqImm is the 64-bit conditional jump comparing dst with imm.
func JeqImm(dst Reg, imm int32, off int16) Insn { return New(OpJeqImm, dst, 0, off, imm) }

// JeqReg is the 64-bit conditional jump comparing dst with src.
func JeqReg(dst, src Reg, off int16) Insn { return New(OpJeqReg, dst, src, off, 0) }

// Jeq32Imm is the 32-bit conditional jump comparing dst with imm.
func Jeq32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJeq32Imm, dst, 0, off, imm) }

// Jeq32Reg is the 32-bit conditional jump comparing dst with src.
func Jeq32Reg(dst, src Reg, off int16) Insn { return New(OpJeq32Reg, dst, src, off, 0) }

// JgtImm is the 64-bit conditional jump comparing dst with imm.
func JgtImm(dst Reg, imm int32, off int16) Insn { return New(OpJgtImm, dst, 0, off, imm) }

// JgtReg is the 64-bit conditional jump comparing dst with src.
func JgtReg(dst, src Reg, off int16) Insn { return New(OpJgtReg, dst, src, off, 0) }

// Jgt32Imm is the 32-bit conditional jump comparing dst with imm.
func Jgt32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJgt32Imm, dst, 0, off, imm) }

// Jgt32Reg is the 32-bit conditional jump comparing dst with src.
func Jgt32Reg(dst, src Reg, off int16) Insn { return New(OpJgt32Reg, dst, src, off, 0) }

// JgeImm is the 64-bit conditional jump comparing dst with imm.
func JgeImm(dst Reg, imm int32, off int16) Insn { return New(OpJgeImm, dst, 0, off, imm) }

// JgeReg is the 64-bit conditional jump comparing dst with src.
func JgeReg(dst, src Reg, off int16) Insn { return New(OpJgeReg, dst, src, off, 0) }

// Jge32Imm is the 32-bit conditional jump comparing dst with imm.
func Jge32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJge32Imm, dst, 0, off, imm) }

// Jge32Reg is the 32-bit conditional jump comparing dst with src.
func Jge32Reg(dst, src Reg, off int16) Insn { return New(OpJge32Reg, dst, src, off, 0) }

// JsetImm is the 64-bit conditional jump comparing dst with imm.
func JsetImm(dst Reg, imm int32, off int16) Insn { return New(OpJsetImm, dst, 0, off, imm) }

// JsetReg is the 64-bit conditional jump comparing dst with src.
func JsetReg(dst, src Reg, off int16) Insn { return New(OpJsetReg, dst, src, off, 0) }

// Jset32Imm is the 32-bit conditional jump comparing dst with imm.
func Jset32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJset32Imm, dst, 0, off, imm) }

// Jset32Reg is the 32-bit conditional jump comparing dst with src.
func Jset32Reg(dst, src Reg, off int16) Insn { return New(OpJset32Reg, dst, src, off, 0) }

// JneImm is the 64-bit conditional jump comparing dst with imm.
func JneImm(dst Reg, imm int32, off int16) Insn { return New(OpJneImm, dst, 0, off, imm) }

// JneReg is the 64-bit conditional jump comparing dst with src.
func JneReg(dst, src Reg, off int16) Insn { return New(OpJneReg, dst, src, off, 0) }

// Jne32Imm is the 32-bit conditional jump comparing dst with imm.
func Jne32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJne32Imm, dst, 0, off, imm) }

// Jne32Reg is the 32-bit conditional jump comparing dst with src.
func Jne32Reg(dst, src Reg, off int16) Insn { return New(OpJne32Reg, dst, src, off, 0) }

// JsgtImm is the 64-bit conditional jump comparing dst with imm.
func JsgtImm(dst Reg, imm int32, off int16) Insn { return New(OpJsgtImm, dst, 0, off, imm) }

// JsgtReg is the 64-bit conditional jump comparing dst with src.
func JsgtReg(dst, src Reg, off int16) Insn { return New(OpJsgtReg, dst, src, off, 0) }

// Jsgt32Imm is the 32-bit conditional jump comparing dst with imm.
func Jsgt32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJsgt32Imm, dst, 0, off, imm) }

// Jsgt32Reg is the 32-bit conditional jump comparing dst with src.
func Jsgt32Reg(dst, src Reg, off int16) Insn { return New(OpJsgt32Reg, dst, src, off, 0) }

// JsgeImm is the 64-bit conditional jump comparing dst with imm.
func JsgeImm(dst Reg, imm int32, off int16) Insn { return New(OpJsgeImm, dst, 0, off, imm) }

// JsgeReg is the 64-bit conditional jump comparing dst with src.
func JsgeReg(dst, src Reg, off int16) Insn { return New(OpJsgeReg, dst, src, off, 0) }

// Jsge32Imm is the 32-bit conditional jump comparing dst with imm.
func Jsge32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJsge32Imm, dst, 0, off, imm) }

// Jsge32Reg is the 32-bit conditional jump comparing dst with src.
func Jsge32Reg(dst, src Reg, off int16) Insn { return New(OpJsge32Reg, dst, src, off, 0) }

// JltImm is the 64-bit conditional jump comparing dst with imm.
func JltImm(dst Reg, imm int32, off int16) Insn { return New(OpJltImm, dst, 0, off, imm) }

// JltReg is the 64-bit conditional jump comparing dst with src.
func JltReg(dst, src Reg, off int16) Insn { return New(OpJltReg, dst, src, off, 0) }

// Jlt32Imm is the 32-bit conditional jump comparing dst with imm.
func Jlt32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJlt32Imm, dst, 0, off, imm) }

// Jlt32Reg is the 32-bit conditional jump comparing dst with src.
func Jlt32Reg(dst, src Reg, off int16) Insn { return New(OpJlt32Reg, dst, src, off, 0) }

// JleImm is the 64-bit conditional jump comparing dst with imm.
func JleImm(dst Reg, imm int32, off int16) Insn { return New(OpJleImm, dst, 0, off, imm) }

// JleReg is the 64-bit conditional jump comparing dst with src.
func JleReg(dst, src Reg, off int16) Insn { return New(OpJleReg, dst, src, off, 0) }

// Jle32Imm is the 32-bit conditional jump comparing dst with imm.
func Jle32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJle32Imm, dst, 0, off, imm) }

// Jle32Reg is the 32-bit conditional jump comparing dst with src.
func Jle32Reg(dst, src Reg, off int16) Insn { return New(OpJle32Reg, dst, src, off, 0) }

// JsltImm is the 64-bit conditional jump comparing dst with imm.
func JsltImm(dst Reg, imm int32, off int16) Insn { return New(OpJsltImm, dst, 0, off, imm) }

// JsltReg is the 64-bit conditional jump comparing dst with src.
func JsltReg(dst, src Reg, off int16) Insn { return New(OpJsltReg, dst, src, off, 0) }

// Jslt32Imm is the 32-bit conditional jump comparing dst with imm.
func Jslt32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJslt32Imm, dst, 0, off, imm) }

// Jslt32Reg is the 32-bit conditional jump comparing dst with src.
func Jslt32Reg(dst, src Reg, off int16) Insn { return New(OpJslt32Reg, dst, src, off, 0) }

// JsleImm is the 64-bit conditional jump comparing dst with imm.
func JsleImm(dst Reg, imm int32, off int16) Insn { return New(OpJsleImm, dst, 0, off, imm) }

// JsleReg is the 64-bit conditional jump comparing dst with src.
func JsleReg(dst, src Reg, off int16) Insn { return New(OpJsleReg, dst, src, off, 0) }

// Jsle32Imm is the 32-bit conditional jump comparing dst with imm.
func Jsle32Imm(dst Reg, imm int32, off int16) Insn { return New(OpJsle32Imm, dst, 0, off, imm) }

// Jsle32Reg is the 32-bit conditional jump comparing dst with src.
func Jsle32Reg(dst, src Reg, off int16) Insn { return New(OpJsle32Reg, dst, src, off, 0) }

// LdxB loads dst = *(size *)(src + off).
func LdxB(dst, src Reg, off int16) Insn { return New(OpLdxB, dst, src, off, 0) }

// StB stores *(size *)(dst + off) = imm.
func StB(dst Reg, off int16, imm int32) Insn { return New(OpStB, dst, 0, off, imm) }

// StxB stores *(size *)(dst + off) = src.
func StxB(dst, src Reg, off int16) Insn { return New(OpStxB, dst, src, off, 0) }

// LdxH loads dst = *(size *)(src + off).
func LdxH(dst, src Reg, off int16) Insn { return New(OpLdxH, dst, src, off, 0) }

// StH stores *(size *)(dst + off) = imm.
func StH(dst Reg, off int16, imm int32) Insn { return New(OpStH, dst, 0, off, imm) }

// StxH stores *(size *)(dst + off) = src.
func StxH(dst, src Reg, off int16) Insn { return New(OpStxH, dst, src, off, 0) }

// LdxW loads dst = *(size *)(src + off).
func LdxW(dst, src Reg, off int16) Insn { return New(OpLdxW, dst, src, off, 0) }

// StW stores *(size *)(dst + off) = imm.
func StW(dst Reg, off int16, imm int32) Insn { return New(OpStW, dst, 0, off, imm) }

// StxW stores *(size *)(dst + off) = src.
func StxW(dst, src Reg, off int16) Insn { return New(OpStxW, dst, src, off, 0) }

// LdxDW loads dst = *(size *)(src + off).
func LdxDW(dst, src Reg, off int16) Insn { return New(OpLdxDW, dst, src, off, 0) }

// StDW stores *(size *)(dst + off) = imm.
func StDW(dst Reg, off int16, imm int32) Insn { return New(OpStDW, dst, 0, off, imm) }

// StxDW stores *(size *)(dst + off) = src.
func StxDW(dst, src Reg, off int16) Insn { return New(OpStxDW, dst, src, off, 0) }

// LdxSB is the sign-extending load dst = *(s *)(src + off).
func LdxSB(dst, src Reg, off int16) Insn { return New(OpLdxSB, dst, src, off, 0) }

// LdAbsB is the legacy packet load r0 = *(size *)skb[imm].
func LdAbsB(imm int32) Insn { return New(OpLdAbsB, 0, 0, 0, imm) }

// LdIndB is the legacy packet load r0 = *(size *)skb[src + imm].
func LdIndB(src Reg, imm int32) Insn { return New(OpLdIndB, 0, src, 0, imm) }

// LdxSH is the sign-extending load dst = *(s *)(src + off).
func LdxSH(dst, src Reg, off int16) Insn { return New(OpLdxSH, dst, src, off, 0) }

// LdAbsH is the legacy packet load r0 = *(size *)skb[imm].
func LdAbsH(imm int32) Insn { return New(OpLdAbsH, 0, 0, 0, imm) }

// LdIndH is the legacy packet load r0 = *(size *)skb[src + imm].
func LdIndH(src Reg, imm int32) Insn { return New(OpLdIndH, 0, src, 0, imm) }

// LdxSW is the sign-extending load dst = *(s *)(src + off).
func LdxSW(dst, src Reg, off int16) Insn { return New(OpLdxSW, dst, src, off, 0) }

// LdAbsW is the legacy packet load r0 = *(size *)skb[imm].
func LdAbsW(imm int32) Insn { return New(OpLdAbsW, 0, 0, 0, imm) }

// LdIndW is the legacy packet load r0 = *(size *)skb[src + imm].
func LdIndW(src Reg, imm int32) Insn { return New(OpLdIndW, 0, src, 0, imm) }

// Neg64 is dst = -dst.
func Neg64(dst Reg) Insn { return New(OpNeg64, dst, 0, 0, 0) }

// Neg32 is w(dst) = -w(dst).
func Neg32(dst Reg) Insn { return New(OpNeg32, dst, 0, 0, 0) }

// MovSX64 is dst = (s<bits>)src for bits 8, 16 or 32.
func MovSX64(dst, src Reg, bits int16) Insn { return Insn{Code: 0xbf, Dst: dst, Src: src, Off: bits} }

// MovSX32 is w(dst) = (s<bits>)w(src) for bits 8 or 16.
func MovSX32(dst, src Reg, bits int16) Insn { return Insn{Code: 0xbc, Dst: dst, Src: src, Off: bits} }

// AddrSpaceCast is dst = addr_space_cast(src, dstAS, srcAS).
func AddrSpaceCast(dst, src Reg, dstAS, srcAS uint16) Insn {
	return New(OpAddrSpaceCast, dst, src, 0, int32(uint32(dstAS)<<16|uint32(srcAS)))
}

// Le is dst = le<width> dst (width 16, 32 or 64).
func Le(dst Reg, width int32) Insn { return Insn{Code: 0xd4, Dst: dst, Imm: width} }

// Be is dst = be<width> dst (width 16, 32 or 64).
func Be(dst Reg, width int32) Insn { return Insn{Code: 0xdc, Dst: dst, Imm: width} }

// Bswap is dst = bswap<width> dst (width 16, 32 or 64).
func Bswap(dst Reg, width int32) Insn { return Insn{Code: 0xd7, Dst: dst, Imm: width} }

// Ja is goto +off.
func Ja(off int16) Insn { return New(OpJa, 0, 0, off, 0) }

// Gotol is the long jump gotol +imm.
func Gotol(imm int32) Insn { return New(OpGotol, 0, 0, 0, imm) }

// MayGoto is may_goto +off.
func MayGoto(off int16) Insn { return New(OpMayGoto, 0, 0, off, 0) }

// Call calls helper id.
func Call(id int32) Insn { return New(OpCall, 0, 0, 0, id) }

// CallLocal is a bpf-to-bpf call of the function at pc+1+imm.
func CallLocal(imm int32) Insn { return New(OpCallLocal, 0, 0, 0, imm) }

// CallKfunc calls the kfunc with BTF id btfID (module BTF fd index off).
func CallKfunc(btfID int32, off int16) Insn { return New(OpCallKfunc, 0, 0, off, btfID) }

// Exit returns r0.
func Exit() Insn { return New(OpExit, 0, 0, 0, 0) }

// LdImm64 is dst = v ll (two slots).
func LdImm64(dst Reg, v uint64) Insn {
	in := New(OpLddw, dst, 0, 0, 0)
	in.SetImm64(v)
	return in
}

// LdPseudo is an ld_imm64 with pseudo source src (PseudoMapFD, ...),
// imm and second-slot imm2.
func LdPseudo(dst Reg, src uint8, imm, imm2 int32) Insn {
	return Insn{Code: OpLdImm64, Dst: dst, Src: Reg(src), Imm: imm, Imm2: imm2}
}

// LdMapFD is dst = map fd (ld_imm64 src 1).
func LdMapFD(dst Reg, fd int32) Insn { return LdPseudo(dst, PseudoMapFD, fd, 0) }

// LdMapValue is dst = address of map fd's value + off (ld_imm64 src 2).
func LdMapValue(dst Reg, fd, off int32) Insn { return LdPseudo(dst, PseudoMapValue, fd, off) }

// LdFunc is dst = address of the subprogram at pc+1+imm (ld_imm64 src 4).
func LdFunc(dst Reg, imm int32) Insn { return LdPseudo(dst, PseudoFunc, imm, 0) }

// Atomic builds an atomic op (OpAtomicAddDW, OpAtomicFetchOrW, OpLoadAcqW,
// ...) on *(dst + off) with src.
func Atomic(op Op, dst, src Reg, off int16) Insn { return New(op, dst, src, off, 0) }
