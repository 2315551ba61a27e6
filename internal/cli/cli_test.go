package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// run executes the client commands against url with a fresh config.
func run(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if env["PEERPLANE_CONFIG"] == "" {
		env["PEERPLANE_CONFIG"] = filepath.Join(t.TempDir(), "config.json")
	}
	root := &cobra.Command{Use: "peerplane", SilenceUsage: true, SilenceErrors: true}
	AddCommands(root, func(k string) string { return env[k] })
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func failure(status int, code, detail, pointer, param string) []byte {
	src := map[string]string{}
	if pointer != "" {
		src["pointer"] = pointer
	}
	if param != "" {
		src["parameter"] = param
	}
	b, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{
		"id": "x", "status": http.StatusText(status), "code": code, "title": "T", "detail": detail, "source": src}}})
	return b
}

func TestAPIErrorShowsDetailAndField(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/networking/v1/peerings":
			w.WriteHeader(422)
			w.Write(failure(422, "invalid_configuration", `Tenant "x" is not a GUID.`, "/spec/cloud/tenant", ""))
		case r.URL.Path == "/networking/v1/networks":
			w.WriteHeader(400)
			w.Write(failure(400, "invalid_parameter", "Query parameter environment is required.", "", "environment"))
		case r.URL.Path == "/org/v2/environments":
			w.Header().Set("WWW-Authenticate", "Basic")
			w.WriteHeader(401)
			w.Write(failure(401, "user_unauthenticated", "Valid authentication credentials must be provided.", "", ""))
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte("<html>bad gateway</html>"))
		}
	}))
	defer srv.Close()
	env := map[string]string{"PEERPLANE_URL": srv.URL, "PEERPLANE_API_KEY": "k", "PEERPLANE_API_SECRET": "s", "PEERPLANE_ENVIRONMENT": "env-1"}

	_, _, err := run(t, env, "network", "peering", "create", "--network", "n-1", "--cloud", "azure", "--cloud-account", "x",
		"--virtual-network", "/v", "--customer-region", "eastus")
	if err == nil || err.Error() != `Tenant "x" is not a GUID. (field /spec/cloud/tenant; 422 invalid_configuration)` {
		t.Errorf("422: %v", err)
	}
	_, _, err = run(t, env, "network", "list")
	if err == nil || !strings.Contains(err.Error(), "field environment") {
		t.Errorf("400: %v", err)
	}
	_, _, err = run(t, env, "environment", "list")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "peerplane login") {
		t.Errorf("401: %v", err)
	}
	_, _, err = run(t, env, "kafka", "cluster", "describe", "lkc-1")
	if err == nil || strings.Contains(err.Error(), "<html>") || !strings.Contains(err.Error(), "502") {
		t.Errorf("502 with HTML: %v", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, _, err := run(t, map[string]string{"PEERPLANE_URL": url, "PEERPLANE_API_KEY": "k", "PEERPLANE_API_SECRET": "s"}, "environment", "list")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Peerplane API at "+url) {
		t.Errorf("err = %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{"PEERPLANE_URL": "http://127.0.0.1:1", "PEERPLANE_API_KEY": "k", "PEERPLANE_API_SECRET": "s", "PEERPLANE_ENVIRONMENT": "env-1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--cloud", "azure", "--region", "eastus", "--cidr", "10.0.0.0/16", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"network", "create", "--cloud", "aws", "--region", "eastus", "--cidr", "10.0.0.0/16"}, `"--cloud" flag`},
		{[]string{"network", "create", "--region", "eastus"}, `"cidr"`},
		{[]string{"network", "describe"}, "missing argument ID"},
		{[]string{"network", "describe", "n-1", "-o", "xml"}, "--output"},
		{[]string{"kafka", "cluster", "create", "c", "--cku", "x"}, `"--cku"`},
		{[]string{"environment", "update", "env-1"}, `"name"`},
		{[]string{"login"}, "--data-dir"},
	} {
		_, _, err := run(t, env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %s", tc.args, err, tc.want)
		}
	}
}

func TestCredentialsPrecedence(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "credentials.json"), []byte(`{"api_key":"dk","api_secret":"ds"}`), 0o600)
	os.WriteFile(filepath.Join(dir, "endpoints.json"), []byte(`{"api_url":"http://127.0.0.1:9999"}`), 0o644)
	var gotKey atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _, _ := r.BasicAuth()
		gotKey.Store(k)
		w.Write([]byte(`{"api_version":"org/v2","kind":"EnvironmentList","metadata":{},"data":[]}`))
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "config.json")
	env := map[string]string{"PEERPLANE_CONFIG": cfg}

	// login --data-dir writes the data directory's key; --url wins over endpoints.json.
	if _, _, err := run(t, env, "login", "--data-dir", dir, "--url", srv.URL); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", fi, err)
	}
	if gotKey.Load() != "dk" {
		t.Errorf("login used key %v", gotKey.Load())
	}
	// The config file, then the environment, then flags.
	run(t, env, "environment", "list")
	if gotKey.Load() != "dk" {
		t.Errorf("config: key %v", gotKey.Load())
	}
	env["PEERPLANE_API_KEY"] = "ek"
	run(t, env, "environment", "list")
	if gotKey.Load() != "ek" {
		t.Errorf("env: key %v", gotKey.Load())
	}
	run(t, env, "environment", "list", "--api-key", "fk")
	if gotKey.Load() != "fk" {
		t.Errorf("flag: key %v", gotKey.Load())
	}
}

func TestWaitProgressAndFailure(t *testing.T) {
	old := pollInterval
	pollInterval = time.Millisecond
	defer func() { pollInterval = old }()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		phase, code := "PROVISIONING", ""
		if n.Add(1) > 3 {
			phase, code = "FAILED", `"error_code":"APP_NOT_CONSENTED","error_message":"Consent first.",`
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(202)
		}
		w.Write([]byte(`{"api_version":"networking/v1","kind":"Peering","id":"peer-1","spec":{"cloud":{"kind":"AzurePeering","tenant":"t","vnet":"v","customer_region":"eastus"}},"status":{` + code + `"phase":"` + phase + `"}}`))
	}))
	defer srv.Close()
	env := map[string]string{"PEERPLANE_URL": srv.URL, "PEERPLANE_API_KEY": "k", "PEERPLANE_API_SECRET": "s", "PEERPLANE_ENVIRONMENT": "env-1"}
	out, stderr, err := run(t, env, "network", "peering", "create", "--network", "n-1", "--cloud", "azure", "--cloud-account", "t",
		"--virtual-network", "v", "--customer-region", "eastus", "--wait")
	if err == nil || !strings.Contains(err.Error(), "APP_NOT_CONSENTED") || !strings.Contains(err.Error(), "Consent first.") {
		t.Fatalf("err = %v", err)
	}
	// One line per change when not on a terminal.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "PROVISIONING") || !strings.Contains(lines[1], "FAILED (APP_NOT_CONSENTED)") {
		t.Errorf("progress:\n%s", stderr)
	}
	if !strings.Contains(out, "| Phase ") || !strings.Contains(out, "APP_NOT_CONSENTED") {
		t.Errorf("the failed peering is not shown:\n%s", out)
	}
}

func TestTables(t *testing.T) {
	var b bytes.Buffer
	printTable(&b, []string{"ID", "Name"}, [][]string{{"n-abc123", "prod"}, {"n-x", "a-longer-name"}})
	want := "    ID    |     Name\n" +
		"----------+---------------\n" +
		" n-abc123 | prod\n" +
		" n-x      | a-longer-name\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	printFields(&b, [][2]string{{"ID", "n-1"}, {"Empty", ""}, {"Phase", "READY"}})
	want = "+-------+-------+\n| ID    | n-1   |\n| Phase | READY |\n+-------+-------+\n"
	if b.String() != want {
		t.Errorf("fields:\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc https://very-long-url-that-stays-whole dd", 8)
	want := "aaa bbb\nccc\nhttps://very-long-url-that-stays-whole\ndd"
	if got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
}
