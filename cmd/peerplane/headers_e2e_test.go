package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"
)

var reUUIDv4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestE2EResponseHeaders drives `serve` through Confluent's SDKs and reads
// from each *http.Response what Confluent's API sends: X-Request-Id (the
// error's id too) and the key's X-RateLimit-Limit, -Remaining and -Reset,
// down to a 429 with Retry-After; the console and /healthz carry
// X-Request-Id as well; a Dedicated cluster's resource_name ends in
// /cloud-cluster=lkc-…/kafka=lkc-…, as Terraform needs.
func TestE2EResponseHeaders(t *testing.T) {
	// A bucket of 6, one token back every 100 s: no request of this test
	// gets one back, so Remaining counts down exactly.
	const burst = 6
	e := startE2E(t, "", func(c *ServeConfig) { c.APIRateLimit = 0.01; c.APIRateBurst = burst })
	sent := 0
	// check asserts resp's status and headers and returns its request id.
	check := func(what string, resp *http.Response, err error, status int) string {
		t.Helper()
		wantHTTP(t, what, resp, err, status)
		sent++
		h := resp.Header
		id := h.Get("X-Request-Id")
		if !reUUIDv4.MatchString(id) {
			t.Fatalf("%s: X-Request-Id %q", what, id)
		}
		remaining := max(burst-sent, 0)
		if h.Get("X-RateLimit-Limit") != strconv.Itoa(burst) || h.Get("X-RateLimit-Remaining") != strconv.Itoa(remaining) {
			t.Fatalf("%s: X-RateLimit-Limit %q, -Remaining %q, want %d and %d", what, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), burst, remaining)
		}
		// Seconds until the bucket is full again: 100 per token taken.
		taken := burst - remaining
		if reset, err := strconv.Atoi(h.Get("X-RateLimit-Reset")); err != nil || reset > 100*taken || reset <= 100*(taken-1) {
			t.Fatalf("%s: X-RateLimit-Reset %q with %d tokens taken", what, h.Get("X-RateLimit-Reset"), taken)
		}
		return id
	}
	// errorID returns the id of the Failure body's error in an SDK error.
	errorID := func(err error) string {
		t.Helper()
		var ge interface{ Body() []byte }
		var f struct{ Errors []struct{ ID string } }
		if !errors.As(err, &ge) || json.Unmarshal(ge.Body(), &f) != nil || len(f.Errors) != 1 {
			t.Fatalf("not a Failure: %v", err)
		}
		return f.Errors[0].ID
	}

	name := "prod"
	env, resp, err := e.orgs.EnvironmentsOrgV2Api.CreateOrgV2Environment(e.ctx()).OrgV2Environment(orgv2.OrgV2Environment{DisplayName: &name}).Execute()
	first := check("create environment", resp, err, http.StatusCreated)
	n, resp, err := e.postNetwork(env.GetId(), "net", "eastus", "10.30.0.0/16")
	if id := check("create network", resp, err, http.StatusAccepted); id == first {
		t.Fatalf("two requests share X-Request-Id %s", id)
	}
	c, resp, err := e.postCluster(env.GetId(), n.GetId(), "kafka", 2)
	check("create cluster", resp, err, http.StatusAccepted)
	rn := c.Metadata.GetResourceName()
	if want := "/environment=" + env.GetId() + "/cloud-cluster=" + c.GetId() + "/kafka=" + c.GetId(); !strings.HasSuffix(rn, want) {
		t.Fatalf("cluster resource_name %q does not end in %s", rn, want)
	}

	_, resp, err = e.orgs.EnvironmentsOrgV2Api.GetOrgV2Environment(e.ctx(), "env-nope").Execute()
	if id := check("get a missing environment", resp, err, http.StatusNotFound); errorID(err) != id {
		t.Fatalf("404 error id %q, X-Request-Id %q", errorID(err), id)
	}
	for sent < burst {
		_, resp, err := e.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(e.ctx()).Execute()
		check("list environments", resp, err, http.StatusOK)
	}
	_, resp, err = e.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(e.ctx()).Execute()
	if id := check("list environments past the burst", resp, err, http.StatusTooManyRequests); errorID(err) != id {
		t.Fatalf("429 error id %q, X-Request-Id %q", errorID(err), id)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 100 {
		t.Fatalf("429 Retry-After %q", resp.Header.Get("Retry-After"))
	}

	// The console and /healthz, beside the API, are observed too.
	for _, path := range []string{"/console/", "/healthz"} {
		resp, err := http.Get(e.r.APIURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if id := resp.Header.Get("X-Request-Id"); !reUUIDv4.MatchString(id) || resp.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("GET %s: %d, X-Request-Id %q, X-RateLimit-Limit %q", path, resp.StatusCode, id, resp.Header.Get("X-RateLimit-Limit"))
		}
	}
}
