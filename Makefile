# k2opt — top-level build. Every target installs the system packages it needs
# (Debian: apt-get; as root directly, otherwise through sudo).

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN     := bin/k2opt
DEMO    ?= corpus/build/v3/xdp_parse.o
OUT     := out

.PHONY: all deps build test test-short demo corpus soak fuzz bench vet clean rules

all: build

# deps installs what the build, tests and demo need when it is missing.
deps:
	@scripts/deps.sh

build: deps
	$(GO) build -o $(BIN) ./cmd/k2opt

vet: deps
	$(GO) vet ./...

# test: vet plus every package's tests (kernel tests run for real as root).
test: deps
	@scripts/bpffs.sh
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

test-short: deps
	$(GO) test -short -count=1 ./...

# demo optimizes a bundled corpus program, shows the diff, proves and loads it.
DEMO_FLAGS ?= --seed 1 --jobs 1
demo: build
	@scripts/bpffs.sh
	@mkdir -p $(OUT)
	@echo "== k2opt verify $(DEMO)"
	@$(BIN) verify $(DEMO)
	@echo
	@echo "== k2opt $(DEMO) -o $(OUT)/demo.o $(DEMO_FLAGS) --report $(OUT)/demo.json"
	@$(BIN) $(DEMO) -o $(OUT)/demo.o $(DEMO_FLAGS) --report $(OUT)/demo.json
	@echo
	@echo "== diff of the disassembly (before -> after)"
	@$(BIN) dis $(DEMO) | sed -E 's/^ *[0-9]+:\t//' > $(OUT)/before.s
	@$(BIN) dis $(OUT)/demo.o | sed -E 's/^ *[0-9]+:\t//' > $(OUT)/after.s
	@diff -U2 $(OUT)/before.s $(OUT)/after.s | head -80 || true
	@echo
	@echo "== k2opt check $(DEMO) $(OUT)/demo.o"
	@$(BIN) check $(DEMO) $(OUT)/demo.o
	@echo
	@echo "== k2opt verify $(OUT)/demo.o"
	@$(BIN) verify $(OUT)/demo.o

# corpus rebuilds the committed BPF objects from corpus/src.
corpus: deps
	$(MAKE) -C corpus

# rules regenerates synth/default.rules, the rule cache built into k2opt,
# from the corpus (v1, v3 and v4 objects at batch's default budget), then
# rebuilds the binary with it. Slow: a whole corpus search.
rules: build
	@rm -rf $(OUT)/rules-run $(OUT)/default.rules
	@mkdir -p $(OUT)
	$(BIN) batch -o $(OUT)/rules-run --rules $(OUT)/default.rules corpus/build/v1 corpus/build/v3 corpus/build/v4
	cp $(OUT)/default.rules synth/default.rules
	$(GO) build -o $(BIN) ./cmd/k2opt

# soak: long fuzz/differential runs, not part of make test.
soak: deps
	$(GO) test -count=1 -timeout 2h -run 'Soak' -tags soak ./...

FUZZTIME ?= 3m
fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./bpf
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./object

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin $(OUT)
