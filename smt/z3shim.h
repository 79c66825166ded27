// z3shim.h: small C helpers around Z3's C API, included by the cgo preambles
// of package smt. Each helper does one Z3 call plus the bookkeeping that must
// happen in the same cgo crossing (inc_ref of the result, reading the error
// code), so that building a node costs one cgo call, not two or three.
#ifndef K2OPT_Z3SHIM_H
#define K2OPT_Z3SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <z3.h>

// k_entry is one slot of a Context's arena: an AST holding one reference,
// and the serial number that Term values compare against (see term.go).
typedef struct {
	Z3_ast a;
	uint32_t serial;
} k_entry;

// The error handler records the code and returns; Z3 then makes the failing
// call return NULL/0 instead of aborting the process (Z3's default handler
// would exit or throw a C++ exception through cgo).
static __thread int k_last_error;

static void k_on_error(Z3_context c, Z3_error_code e) {
	(void)c;
	k_last_error = (int)e;
}

static Z3_context k_new_context(void) {
	Z3_config cfg = Z3_mk_config();
	if (!cfg) return NULL;
	Z3_set_param_value(cfg, "model", "true");
	Z3_context c = Z3_mk_context_rc(cfg);
	Z3_del_config(cfg);
	if (c) Z3_set_error_handler(c, k_on_error);
	return c;
}

static inline Z3_ast k_keep(Z3_context c, Z3_ast r) {
	if (r) Z3_inc_ref(c, r);
	return r;
}

static inline Z3_sort k_keep_sort(Z3_context c, Z3_sort s) {
	if (s) Z3_inc_ref(c, Z3_sort_to_ast(c, s));
	return s;
}

static void k_release(Z3_context c, const k_entry *e, size_t n) {
	while (n > 0) {
		n--;
		Z3_dec_ref(c, e[n].a);
	}
}

static void k_release_sorts(Z3_context c, const Z3_sort *s, size_t n) {
	for (size_t i = 0; i < n; i++) Z3_dec_ref(c, Z3_sort_to_ast(c, s[i]));
}

// Operation codes shared with term.go (const block there mirrors this enum).
enum {
	K_ADD = 1, K_SUB, K_MUL, K_UDIV, K_UREM, K_SDIV, K_SREM, K_SMOD,
	K_BVAND, K_BVOR, K_BVXOR, K_SHL, K_LSHR, K_ASHR, K_CONCAT,
	K_EQ, K_ULT, K_ULE, K_UGT, K_UGE, K_SLT, K_SLE, K_SGT, K_SGE,
	K_IMPLIES, K_XOR, K_SELECT,
	K_BVNOT, K_NEG, K_NOT, K_SIMPLIFY,
	K_ITE, K_STORE,
	K_AND, K_OR, K_DISTINCT,
	K_EXTRACT, K_ZEXT, K_SEXT,
	K_TRUE, K_FALSE,
};

static Z3_ast k_op2(Z3_context c, int op, Z3_ast a, Z3_ast b) {
	Z3_ast r = NULL;
	switch (op) {
	case K_ADD: r = Z3_mk_bvadd(c, a, b); break;
	case K_SUB: r = Z3_mk_bvsub(c, a, b); break;
	case K_MUL: r = Z3_mk_bvmul(c, a, b); break;
	case K_UDIV: r = Z3_mk_bvudiv(c, a, b); break;
	case K_UREM: r = Z3_mk_bvurem(c, a, b); break;
	case K_SDIV: r = Z3_mk_bvsdiv(c, a, b); break;
	case K_SREM: r = Z3_mk_bvsrem(c, a, b); break;
	case K_SMOD: r = Z3_mk_bvsmod(c, a, b); break;
	case K_BVAND: r = Z3_mk_bvand(c, a, b); break;
	case K_BVOR: r = Z3_mk_bvor(c, a, b); break;
	case K_BVXOR: r = Z3_mk_bvxor(c, a, b); break;
	case K_SHL: r = Z3_mk_bvshl(c, a, b); break;
	case K_LSHR: r = Z3_mk_bvlshr(c, a, b); break;
	case K_ASHR: r = Z3_mk_bvashr(c, a, b); break;
	case K_CONCAT: r = Z3_mk_concat(c, a, b); break;
	case K_EQ: r = Z3_mk_eq(c, a, b); break;
	case K_ULT: r = Z3_mk_bvult(c, a, b); break;
	case K_ULE: r = Z3_mk_bvule(c, a, b); break;
	case K_UGT: r = Z3_mk_bvugt(c, a, b); break;
	case K_UGE: r = Z3_mk_bvuge(c, a, b); break;
	case K_SLT: r = Z3_mk_bvslt(c, a, b); break;
	case K_SLE: r = Z3_mk_bvsle(c, a, b); break;
	case K_SGT: r = Z3_mk_bvsgt(c, a, b); break;
	case K_SGE: r = Z3_mk_bvsge(c, a, b); break;
	case K_IMPLIES: r = Z3_mk_implies(c, a, b); break;
	case K_XOR: r = Z3_mk_xor(c, a, b); break;
	case K_SELECT: r = Z3_mk_select(c, a, b); break;
	}
	return k_keep(c, r);
}

static Z3_ast k_op1(Z3_context c, int op, Z3_ast a) {
	Z3_ast r = NULL;
	switch (op) {
	case K_BVNOT: r = Z3_mk_bvnot(c, a); break;
	case K_NEG: r = Z3_mk_bvneg(c, a); break;
	case K_NOT: r = Z3_mk_not(c, a); break;
	case K_SIMPLIFY: r = Z3_simplify(c, a); break;
	}
	return k_keep(c, r);
}

static Z3_ast k_op0(Z3_context c, int op) {
	Z3_ast r = NULL;
	switch (op) {
	case K_TRUE: r = Z3_mk_true(c); break;
	case K_FALSE: r = Z3_mk_false(c); break;
	}
	return k_keep(c, r);
}

static Z3_ast k_op3(Z3_context c, int op, Z3_ast a, Z3_ast b, Z3_ast d) {
	Z3_ast r = NULL;
	switch (op) {
	case K_ITE: r = Z3_mk_ite(c, a, b, d); break;
	case K_STORE: r = Z3_mk_store(c, a, b, d); break;
	}
	return k_keep(c, r);
}

static Z3_ast k_opn(Z3_context c, int op, unsigned n, const Z3_ast *args) {
	Z3_ast r = NULL;
	switch (op) {
	case K_AND: r = Z3_mk_and(c, n, args); break;
	case K_OR: r = Z3_mk_or(c, n, args); break;
	case K_DISTINCT: r = Z3_mk_distinct(c, n, args); break;
	}
	return k_keep(c, r);
}

static Z3_ast k_opi(Z3_context c, int op, unsigned i, unsigned j, Z3_ast a) {
	Z3_ast r = NULL;
	switch (op) {
	case K_EXTRACT: r = Z3_mk_extract(c, i, j, a); break;
	case K_ZEXT: r = Z3_mk_zero_ext(c, i, a); break;
	case K_SEXT: r = Z3_mk_sign_ext(c, i, a); break;
	}
	return k_keep(c, r);
}

static Z3_ast k_const(Z3_context c, Z3_symbol s, Z3_sort t) {
	return k_keep(c, Z3_mk_const(c, s, t));
}

static Z3_ast k_fresh(Z3_context c, const char *prefix, Z3_sort t) {
	return k_keep(c, Z3_mk_fresh_const(c, prefix, t));
}

static Z3_ast k_num(Z3_context c, uint64_t v, Z3_sort t) {
	return k_keep(c, Z3_mk_unsigned_int64(c, v, t));
}

static Z3_ast k_const_array(Z3_context c, Z3_sort dom, Z3_ast v) {
	return k_keep(c, Z3_mk_const_array(c, dom, v));
}

static Z3_ast k_func(Z3_context c, Z3_symbol s, unsigned n, const Z3_sort *dom, Z3_sort rng) {
	Z3_func_decl d = Z3_mk_func_decl(c, s, n, dom, rng);
	if (!d) return NULL;
	return k_keep(c, Z3_func_decl_to_ast(c, d));
}

static Z3_ast k_fresh_func(Z3_context c, const char *prefix, unsigned n, const Z3_sort *dom, Z3_sort rng) {
	Z3_func_decl d = Z3_mk_fresh_func_decl(c, prefix, n, dom, rng);
	if (!d) return NULL;
	return k_keep(c, Z3_func_decl_to_ast(c, d));
}

static Z3_ast k_app(Z3_context c, Z3_ast f, unsigned n, const Z3_ast *args) {
	Z3_func_decl d = Z3_to_func_decl(c, f);
	if (!d) return NULL;
	return k_keep(c, Z3_mk_app(c, d, n, args));
}

static Z3_sort k_bv_sort(Z3_context c, unsigned w) { return k_keep_sort(c, Z3_mk_bv_sort(c, w)); }
static Z3_sort k_bool_sort(Z3_context c) { return k_keep_sort(c, Z3_mk_bool_sort(c)); }
static Z3_sort k_array_sort(Z3_context c, Z3_sort d, Z3_sort r) { return k_keep_sort(c, Z3_mk_array_sort(c, d, r)); }

// k_width: bit-vector width of a's sort; 0 for Bool; -1 for anything else
// (arrays, functions) or on error.
static int k_width(Z3_context c, Z3_ast a) {
	Z3_sort s = Z3_get_sort(c, a);
	if (!s) return -1;
	switch (Z3_get_sort_kind(c, s)) {
	case Z3_BV_SORT: return (int)Z3_get_bv_sort_size(c, s);
	case Z3_BOOL_SORT: return 0;
	default: return -1;
	}
}

static const char *k_error_msg(Z3_context c, int code) {
	return Z3_get_error_msg(c, (Z3_error_code)code);
}

// The void Z3 calls below report failure only through the error code,
// so they return it.
static int k_assert(Z3_context c, Z3_solver s, Z3_ast a) {
	Z3_solver_assert(c, s, a);
	return (int)Z3_get_error_code(c);
}

static int k_push(Z3_context c, Z3_solver s) {
	Z3_solver_push(c, s);
	return (int)Z3_get_error_code(c);
}

static int k_pop(Z3_context c, Z3_solver s, unsigned n) {
	Z3_solver_pop(c, s, n);
	return (int)Z3_get_error_code(c);
}

static int k_reset(Z3_context c, Z3_solver s) {
	Z3_solver_reset(c, s);
	return (int)Z3_get_error_code(c);
}

static unsigned k_num_scopes(Z3_context c, Z3_solver s) {
	return Z3_solver_get_num_scopes(c, s);
}

static Z3_solver k_new_solver(Z3_context c) {
	Z3_solver s = Z3_mk_simple_solver(c);
	if (s) Z3_solver_inc_ref(c, s);
	return s;
}

// k_set_timeout sets the solver parameter "timeout" (milliseconds; UINT_MAX
// means none). Z3_solver_check arms a timer from it on every check.
static int k_set_timeout(Z3_context c, Z3_solver s, unsigned ms) {
	Z3_params p = Z3_mk_params(c);
	if (!p) return (int)Z3_get_error_code(c);
	Z3_params_inc_ref(c, p);
	Z3_params_set_uint(c, p, Z3_mk_string_symbol(c, "timeout"), ms);
	// Z3 would install its own SIGINT handler around every check, which
	// the Go runtime aborts on (no SA_ONSTACK): Ctrl-C is Go's to handle.
	Z3_params_set_bool(c, p, Z3_mk_string_symbol(c, "ctrl_c"), false);
	Z3_solver_set_params(c, s, p);
	int e = (int)Z3_get_error_code(c);
	Z3_params_dec_ref(c, p);
	return e;
}

// k_check returns the Z3_lbool in the low byte (biased by 1 to be
// non-negative) and the error code above it, so the Go side passes no
// pointer (a pointer argument would escape to the heap on every check).
static int k_check(Z3_context c, Z3_solver s) {
	Z3_lbool r = Z3_solver_check(c, s);
	return ((int)Z3_get_error_code(c) << 8) | (int)(r + 1);
}

static Z3_model k_get_model(Z3_context c, Z3_solver s) {
	Z3_model m = Z3_solver_get_model(c, s);
	if (m) Z3_model_inc_ref(c, m);
	return m;
}

// k_eval evaluates a under m with model completion. Bit-vector numerals of
// width <= 64 and Boolean values (true = 1) come back in v with ok = 1; the
// result AST is released before returning. Returned by value so that the
// Go side passes no pointer.
typedef struct {
	uint64_t v;
	int ok;
} k_value;

// k_value_of reads v if it is a bit-vector numeral of width <= 64 or a
// Boolean literal.
static k_value k_value_of(Z3_context c, Z3_ast v) {
	k_value res = {0, 0};
	Z3_sort s = Z3_get_sort(c, v);
	Z3_sort_kind k = s ? Z3_get_sort_kind(c, s) : Z3_UNKNOWN_SORT;
	if (k == Z3_BV_SORT && Z3_get_bv_sort_size(c, s) <= 64 && Z3_is_numeral_ast(c, v)) {
		uint64_t u = 0;
		if (Z3_get_numeral_uint64(c, v, &u)) {
			res.v = u;
			res.ok = 1;
		} else {
			// Fallback through the decimal string, as some numerals
			// refuse the direct conversion.
			const char *str = Z3_get_numeral_string(c, v);
			if (str && *str) {
				char *end = NULL;
				unsigned long long x = strtoull(str, &end, 10);
				if (end && *end == 0) {
					res.v = (uint64_t)x;
					res.ok = 1;
				}
			}
		}
	} else if (k == Z3_BOOL_SORT) {
		switch (Z3_get_bool_value(c, v)) {
		case Z3_L_TRUE: res.v = 1; res.ok = 1; break;
		case Z3_L_FALSE: res.v = 0; res.ok = 1; break;
		default: break;
		}
	}
	return res;
}

static k_value k_eval(Z3_context c, Z3_model m, Z3_ast a) {
	k_value res = {0, 0};
	Z3_ast v = NULL;
	if (!Z3_model_eval(c, m, a, true, &v) || !v) return res;
	Z3_inc_ref(c, v);
	res = k_value_of(c, v);
	Z3_dec_ref(c, v);
	return res;
}

#endif
