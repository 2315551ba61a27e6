# The README's two commands:
#   go run ./cmd/peerplane serve --demo     start everything on embedded defaults
#   make test                               install what the tests need, then run them all
#
# PostgreSQL tests run when PEERPLANE_TEST_POSTGRES_URL is set
# (CI: postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and skip otherwise.

GO ?= go
FUZZTIME ?= 8s
# Fuzz targets run briefly by `make fuzz` (package:target).
FUZZ_TARGETS ?= $(shell grep -o '^func Fuzz[A-Za-z0-9_]*' internal/*/*_test.go | sed -E 's|^(internal/[^/]+)/[^:]*:func (Fuzz.*)|\1:\2|' | sort -u)

.PHONY: test deps check unit fuzz build bench

test: deps check unit fuzz

deps:
	bash scripts/test-deps.sh

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/ || exit 1; \
	done

build:
	$(GO) build -o bin/peerplane ./cmd/peerplane

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
