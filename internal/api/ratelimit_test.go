package api_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/api"
)

// TestRateLimit: past its burst, a key gets 429 with Retry-After and the
// Failure body (connect/v1: Connect's body); another key is unaffected,
// and so is a wrong secret's attempt counted against the key it names.
func TestRateLimit(t *testing.T) {
	h := newHarness(t)
	// One token per 1000 s: the third request in a row is refused,
	// however slow the machine.
	h.srv.Close()
	h.srv = httptest.NewServer(api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc,
		Connectors: h.svc, RateLimit: 0.001, Burst: 2}))
	t.Cleanup(h.srv.Close)
	_, otherKey, otherSecret := h.newOrg("other", false)

	for i := range 2 {
		if r := h.do("GET", "/org/v2/environments", nil); r.status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	r := h.do("GET", "/org/v2/environments", nil)
	r.wantError(t, 429, "too_many_requests", "")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	r = h.do("GET", "/connect/v1/environments/env-x/clusters/lkc-x/connectors", nil)
	if r.status != 429 || !strings.Contains(string(r.body), `"error":{"code":429`) {
		t.Fatalf("connect/v1 past the limit: %d %s", r.status, r.body)
	}
	// A wrong secret for the limited key is limited too.
	if r := h.do("GET", "/org/v2/environments", nil, h.key+":guess"); r.status != 429 {
		t.Fatalf("a guessed secret past the limit: %d", r.status)
	}
	if r := h.do("GET", "/org/v2/environments", nil, otherKey+":"+otherSecret); r.status != 200 {
		t.Fatalf("another key: %d %s", r.status, r.body)
	}
}
