package api_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/api"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wantQuota checks Confluent's rate-limit headers: limit, remaining and
// reset (seconds until the bucket is full), and Retry-After (0: absent).
func (r response) wantQuota(t *testing.T, limit, remaining, reset, retryAfter int) {
	t.Helper()
	got := func(name string) string { return r.header.Get(name) }
	want := map[string]int{"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
	for name, n := range want {
		if got(name) != strconv.Itoa(n) {
			t.Errorf("%s %q, want %d (status %d)", name, got(name), n, r.status)
		}
	}
	wantRetry := ""
	if retryAfter > 0 {
		wantRetry = strconv.Itoa(retryAfter)
	}
	if got("Retry-After") != wantRetry {
		t.Errorf("Retry-After %q, want %q (status %d)", got("Retry-After"), wantRetry, r.status)
	}
}

// wantNoQuota checks that r carries none of the rate-limit headers.
func (r response) wantNoQuota(t *testing.T) {
	t.Helper()
	for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
		if v := r.header.Get(name); v != "" {
			t.Errorf("%s %q on a %d that should carry no rate-limit headers", name, v, r.status)
		}
	}
}

// TestRateLimit: each key has a token bucket of Burst refilled at
// RateLimit per second. Every response to a request with credentials
// carries X-RateLimit-Limit (the burst), -Remaining (tokens left) and
// -Reset (seconds until the bucket is full); past the burst a key gets 429
// with Retry-After and the Failure body (connect/v1: Connect's body), a
// wrong secret's attempt counts against the key it names, and another key
// is unaffected. The clock is frozen, so every number is exact.
func TestRateLimit(t *testing.T) {
	h := newHarness(t)
	clock := newTestClock()
	h.srv.Close()
	h.srv = httptest.NewServer(api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc,
		Connectors: h.svc, RateLimit: 0.5, Burst: 3, Now: clock.Now}))
	t.Cleanup(h.srv.Close)
	_, otherKey, otherSecret := h.newOrg("other", false)

	// 3 tokens, one more every 2 s; each request takes one.
	r := h.do("GET", "/org/v2/environments", nil)
	if r.status != 200 {
		t.Fatalf("first request: %d %s", r.status, r.body)
	}
	r.wantQuota(t, 3, 2, 2, 0)
	r = h.do("GET", "/networking/v1/networks", nil) // a 4xx costs a token too
	r.wantError(t, 400, "invalid_parameter", "environment")
	r.wantQuota(t, 3, 1, 4, 0)
	r = h.do("GET", "/org/v2/environments", nil, h.key+":guess")
	r.wantError(t, 401, "user_unauthenticated", "")
	r.wantQuota(t, 3, 0, 6, 0)

	r = h.do("GET", "/org/v2/environments", nil)
	r.wantError(t, 429, "too_many_requests", "")
	r.wantQuota(t, 3, 0, 6, 2)
	if id := r.json(t)["errors"].([]any)[0].(map[string]any)["id"]; id != r.header.Get(api.RequestIDHeader) || id == "" {
		t.Fatalf("429 error id %v, X-Request-Id %q", id, r.header.Get(api.RequestIDHeader))
	}
	r = h.do("GET", "/connect/v1/environments/env-x/clusters/lkc-x/connectors", nil)
	if r.status != 429 || !strings.Contains(string(r.body), `"error":{"code":429`) {
		t.Fatalf("connect/v1 past the limit: %d %s", r.status, r.body)
	}
	r.wantQuota(t, 3, 0, 6, 2)
	// A wrong secret for the limited key is limited too.
	if r := h.do("GET", "/org/v2/environments", nil, h.key+":guess"); r.status != 429 {
		t.Fatalf("a guessed secret past the limit: %d", r.status)
	}
	r = h.do("GET", "/org/v2/environments", nil, otherKey+":"+otherSecret)
	if r.status != 200 {
		t.Fatalf("another key: %d %s", r.status, r.body)
	}
	r.wantQuota(t, 3, 2, 2, 0)

	// No credentials, no bucket: no rate-limit headers; nor on the
	// OpenAPI document, which needs none.
	r = h.do("GET", "/org/v2/environments", nil, "")
	r.wantError(t, 401, "user_unauthenticated", "")
	r.wantNoQuota(t)
	r = h.do("GET", "/openapi.yaml", nil, "")
	if r.status != 200 {
		t.Fatalf("openapi: %d", r.status)
	}
	r.wantNoQuota(t)

	// 2 s bring one token back; 6 more fill the bucket.
	clock.Add(2 * time.Second)
	r = h.do("GET", "/org/v2/environments", nil)
	if r.status != 200 {
		t.Fatalf("after 2 s: %d %s", r.status, r.body)
	}
	r.wantQuota(t, 3, 0, 6, 0)
	clock.Add(time.Minute)
	r = h.do("GET", "/org/v2/environments", nil)
	if r.status != 200 {
		t.Fatalf("after a minute: %d %s", r.status, r.body)
	}
	r.wantQuota(t, 3, 2, 2, 0)
}

// TestRateLimitOff: without a limit, no response carries its headers.
func TestRateLimitOff(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/org/v2/environments", nil)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	r.wantNoQuota(t)
	r = h.do("GET", "/org/v2/environments/env-nope", nil)
	r.wantError(t, 404, "not_found", "")
	r.wantNoQuota(t)
}
