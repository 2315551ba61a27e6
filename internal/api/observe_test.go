package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/control"
)

var reRequestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// errorID returns the id of the Failure body's only error.
func (r response) errorID(t *testing.T) string {
	t.Helper()
	errs, _ := r.json(t)["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("not one error: %s", r.body)
	}
	id, _ := errs[0].(map[string]any)["id"].(string)
	return id
}

// TestRequestID: every response carries X-Request-Id (a fresh UUID, or the
// client's own when it is safe to echo) and a Failure body's error id is
// that same id, on success and on 400, 401, 404 and 422, on connect/v1
// and on /openapi.yaml.
func TestRequestID(t *testing.T) {
	h := newHarness(t)
	seen := map[string]bool{}
	id := func(r response) string {
		t.Helper()
		v := r.header.Get(api.RequestIDHeader)
		if !reRequestID.MatchString(v) {
			t.Fatalf("%d: X-Request-Id %q is not a random UUID", r.status, v)
		}
		if seen[v] {
			t.Fatalf("X-Request-Id %q given twice", v)
		}
		seen[v] = true
		return v
	}

	if r := h.do("GET", "/org/v2/environments", nil); r.status != 200 {
		t.Fatalf("list: %d", r.status)
	} else {
		id(r)
	}
	for _, tt := range []struct {
		name, method, path string
		body               any
		auth               []string
		status             int
	}{
		{"400", "GET", "/networking/v1/networks", nil, nil, 400},
		{"401", "GET", "/org/v2/environments", nil, []string{""}, 401},
		{"401 wrong secret", "GET", "/org/v2/environments", nil, []string{h.key + ":nope"}, 401},
		{"404", "GET", "/org/v2/environments/env-nope", nil, nil, 404},
		{"404 no route", "GET", "/nowhere", nil, nil, 404},
		{"422", "POST", "/org/v2/environments", map[string]any{"display_name": ""}, nil, 422},
	} {
		r := h.do(tt.method, tt.path, tt.body, tt.auth...)
		if r.status != tt.status {
			t.Fatalf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
		if got := r.errorID(t); got != id(r) {
			t.Fatalf("%s: error id %q, X-Request-Id %q", tt.name, got, r.header.Get(api.RequestIDHeader))
		}
	}
	if r := h.do("GET", "/connect/v1/environments/env-x/clusters/lkc-x/connectors/nope", nil); r.status != 404 {
		t.Fatalf("connect/v1: %d", r.status)
	} else {
		id(r)
	}
	if r := h.do("GET", "/openapi.yaml", nil, ""); r.status != 200 {
		t.Fatalf("openapi: %d", r.status)
	} else {
		id(r)
	}

	// A client's own id is echoed, and names the error, when it is 1 to
	// 128 of [A-Za-z0-9._:-]; anything else is replaced.
	send := func(clientID string) response {
		req, _ := http.NewRequest("GET", h.srv.URL+"/org/v2/environments/env-nope", nil)
		req.SetBasicAuth(h.key, h.secret)
		req.Header.Set(api.RequestIDHeader, clientID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	mine := "tf-run.42:" + strings.Repeat("a", 118)
	r := send(mine)
	if r.header.Get(api.RequestIDHeader) != mine || r.errorID(t) != mine {
		t.Fatalf("client id %q: X-Request-Id %q, error id %q", mine, r.header.Get(api.RequestIDHeader), r.errorID(t))
	}
	for _, bad := range []string{mine + "a", "a b", "a/b", `"quoted"`} {
		r := send(bad)
		if got := id(r); got == bad || r.errorID(t) != got {
			t.Fatalf("client id %q: X-Request-Id %q, error id %q", bad, got, r.errorID(t))
		}
	}
}

// syncBuffer is a log sink the test reads while handlers write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// accessLines returns the access log lines of request id.
func (b *syncBuffer) accessLines(t *testing.T, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range b.lines(t) {
		if l["msg"] == "http request" && l["request_id"] == id {
			out = append(out, l)
		}
	}
	return out
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// serve runs one request through h in-process: the handler has returned,
// so its access log line is written, when serve does.
func serve(h http.Handler, method, path, key, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if key != "" {
		req.SetBasicAuth(key, secret)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAccessLog: one line per request at info with its id, method, route
// pattern, status, bytes and duration; nested in another Observer (as
// serve mounts the API beside the console and /healthz), the API logs
// nothing itself and the outer line carries the API's route; quiet routes
// log at debug; the Observe hook sees the same record.
func TestAccessLog(t *testing.T) {
	h := newHarness(t)
	var apiLog syncBuffer
	srv := api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc, Logger: jsonLogger(&apiLog)})

	rec := serve(srv, "GET", "/org/v2/environments/env-nope", h.key, h.secret)
	id := rec.Header().Get(api.RequestIDHeader)
	if rec.Code != 404 || id == "" {
		t.Fatalf("%d, X-Request-Id %q", rec.Code, id)
	}
	lines := apiLog.accessLines(t, id)
	if len(lines) != 1 {
		t.Fatalf("%d access log lines for %s, want 1:\n%s", len(lines), id, apiLog.buf.String())
	}
	l := lines[0]
	if l["level"] != "INFO" || l["method"] != "GET" || l["route"] != "GET /org/v2/environments/{id}" ||
		l["status"] != float64(404) || l["bytes"] != float64(rec.Body.Len()) || l["duration"] == nil {
		t.Fatalf("access log line %v", l)
	}

	// Nested: the outer Observer logs once, with the API's own route.
	var outerLog, innerLog syncBuffer
	var hooked []api.Record
	var mu sync.Mutex
	inner := api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc, Logger: jsonLogger(&innerLog)})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/", inner)
	outer := api.Observer{Logger: jsonLogger(&outerLog), Quiet: []string{"GET /healthz"}, Observe: func(r *http.Request, rec api.Record) {
		mu.Lock()
		hooked = append(hooked, rec)
		mu.Unlock()
	}}.Wrap(mux)

	rec = serve(outer, "GET", "/org/v2/environments", h.key, h.secret)
	id, listBytes := rec.Header().Get(api.RequestIDHeader), rec.Body.Len()
	if rec.Code != 200 || len(rec.Header()[api.RequestIDHeader]) != 1 {
		t.Fatalf("%d, X-Request-Id %q", rec.Code, rec.Header()[api.RequestIDHeader])
	}
	if lines := outerLog.accessLines(t, id); len(lines) != 1 || lines[0]["route"] != "GET /org/v2/environments" || lines[0]["status"] != float64(200) {
		t.Fatalf("outer access log for %s: %v", id, lines)
	}
	if lines := innerLog.lines(t); len(lines) != 0 {
		t.Fatalf("the nested API logged %v", lines)
	}
	rec = serve(outer, "GET", "/healthz", "", "")
	hid := rec.Header().Get(api.RequestIDHeader)
	if lines := outerLog.accessLines(t, hid); hid == "" || len(lines) != 1 || lines[0]["level"] != "DEBUG" || lines[0]["route"] != "GET /healthz" {
		t.Fatalf("/healthz (%q): %v", hid, lines)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 2 || hooked[0].ID != id || hooked[0].Route != "GET /org/v2/environments" || hooked[0].Status != 200 ||
		hooked[0].Bytes != int64(listBytes) || hooked[1].ID != hid {
		t.Fatalf("Observe saw %+v", hooked)
	}
}

// TestAccessLogPanic: a handler that panics is logged as a 500 and the
// panic goes on to net/http.
func TestAccessLogPanic(t *testing.T) {
	var log syncBuffer
	h := api.Observer{Logger: jsonLogger(&log)}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the handler's panic", p)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	}()
	lines := log.accessLines(t, rec.Header().Get(api.RequestIDHeader))
	if len(lines) != 1 || lines[0]["status"] != float64(500) {
		t.Fatalf("access log %v", lines)
	}
}

// failingOrgs fails every authentication with an internal error.
type failingOrgs struct{ control.OrgService }

func (failingOrgs) Authenticate(context.Context, string, string) (*control.Organization, error) {
	return nil, errors.New("store: connection refused")
}

// TestInternalErrorLog: a 500 shows a generic error named by the request
// id, and the server's log line of its cause carries that same id.
func TestInternalErrorLog(t *testing.T) {
	h := newHarness(t)
	var log syncBuffer
	srv := api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: failingOrgs{h.svc}, Logger: jsonLogger(&log)})
	rec := serve(srv, "GET", "/org/v2/environments", h.key, h.secret)
	id := rec.Header().Get(api.RequestIDHeader)
	if rec.Code != 500 || id == "" || !strings.Contains(rec.Body.String(), `"id":"`+id+`"`) || strings.Contains(rec.Body.String(), "connection refused") {
		t.Fatalf("%d, X-Request-Id %q: %s", rec.Code, id, rec.Body)
	}
	var cause map[string]any
	for _, l := range log.lines(t) {
		if l["msg"] == "api: internal error" {
			cause = l
		}
	}
	if cause == nil || cause["request_id"] != id || cause["err"] != "store: connection refused" || cause["level"] != "ERROR" {
		t.Fatalf("the internal error's log line %v, want request_id %s", cause, id)
	}
}
