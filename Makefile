# camwire — `make demo` runs the system on an emulated Pi, `make test` runs every test.
GO      ?= go
OUT     ?= out
GOFLAGS_STATIC = CGO_ENABLED=0
export PATH := /usr/local/go/bin:$(PATH)

# Receiver builds: one static binary per laptop platform.
RECV_PLATFORMS = linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

.PHONY: all deps peers test vet bench recv init image demo clean

all: recv init

deps:
	@scripts/deps.sh

# The servers the scale-out tests talk to (MediaMTX, SeaweedFS), built
# once from the Go module proxy into ~/.cache/camwire/peers.
peers:
	@scripts/peers.sh >/dev/null

# The receiver's packages are vetted for every laptop OS, so a Windows or
# macOS build break shows up in make test, not on a user's laptop.
RECV_PKGS = ./cmd/camwire-recv/... ./recv/... ./live/ ./mp4/... ./sink/ ./wire/ ./rtsp/ ./upload/
vet:
	$(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) vet $(RECV_PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(RECV_PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Every test: unit, fuzz seed corpora, netlink in namespaces, QEMU boards.
# Tests that need root or a tool skip with a reason when run by hand
# without them; under make they have both.
test: deps peers vet
	$(GO) test -count=1 -timeout 28m ./...

# One table: every goal of issue 11 on real libx264 H.264 (clips cached in
# ~/.cache/camwire/clips), each figure against a baseline measured in the
# same round (nc, cat | nc, the Annex-B sink), 3 rounds. ROUNDS=1 is quicker.
ROUNDS ?= 3
bench: deps
	$(GO) run ./cmd/camwire-bench -rounds $(ROUNDS)

recv:
	@mkdir -p $(OUT)
	@set -e; for p in $(RECV_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "build $(OUT)/camwire-recv-$$os-$$arch$$ext"; \
		$(GOFLAGS_STATIC) GOOS=$$os GOARCH=$$arch $(GO) build -buildvcs=auto -trimpath -ldflags=-s -o $(OUT)/camwire-recv-$$os-$$arch$$ext ./cmd/camwire-recv; \
	done

init:
	@mkdir -p $(OUT)
	$(GOFLAGS_STATIC) GOOS=linux GOARCH=arm64 $(GO) build -buildvcs=auto -trimpath -ldflags=-s -o $(OUT)/camwire-init ./cmd/camwire-init

# The SD card image, out/camwire.img (128 MiB; boot packages cached in
# ~/.cache/camwire). Settings for camwire.txt, all optional:
#   make image NAME=garden ADDRESS=192.168.77.2/24 RECEIVER=192.168.77.1:10401
# Then: scripts/flash.sh /dev/sdX (or Raspberry Pi Imager, "Use custom").
NAME ?=
ADDRESS ?=
RECEIVER ?=
SOURCE ?=
image: deps init
	$(GO) run ./cmd/camwire-image -init $(OUT)/camwire-init -o $(OUT)/camwire.img \
		-set name=$(NAME) -set address=$(ADDRESS) -set receiver=$(RECEIVER) -set source=$(SOURCE) $(if $(DEBUG),-debug) build

# The whole system on an emulated Pi: receiver on this machine, demo image
# (test picture) booted in QEMU, ~20 s recorded, clean shutdown, report.
demo: deps init
	@mkdir -p $(OUT)
	$(GOFLAGS_STATIC) $(GO) build -buildvcs=auto -trimpath -o $(OUT)/camwire-recv ./cmd/camwire-recv
	$(GO) run ./cmd/camwire-image -init $(OUT)/camwire-init -recv $(OUT)/camwire-recv -o $(OUT)/demo.img $(if $(DEBUG),-debug) demo

clean:
	rm -rf $(OUT)
