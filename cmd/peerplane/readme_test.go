package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlock is one shell block of README.md.
type readmeBlock struct {
	line int    // of the opening fence
	mark string // the readme-test mark before it: "", "server" or "skip"
	text string
}

// readmeMarkRE is the HTML comment that tells the README test what to do
// with the next shell block: "server" (it starts the server; the test starts
// its own instead) or "skip" (not run), each with a reason.
var readmeMarkRE = regexp.MustCompile(`^<!-- readme-test: (\S+)(?: \(.*\))? -->$`)

// readmeBlocks returns the shell blocks (```sh or ```bash) of the Markdown
// file at path in order, each with the mark that precedes it. A mark must
// stand right before a shell block (blank lines apart), and be known.
func readmeBlocks(path string) ([]readmeBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks   []readmeBlock
		cur      *readmeBlock
		other    bool // inside a fence that is not shell
		mark     string
		markLine int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.TrimSpace(line)
		switch {
		case cur != nil:
			if fence == "```" {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.text += line + "\n"
		case other:
			other = fence != "```"
		case fence == "```sh" || fence == "```bash":
			cur = &readmeBlock{line: n, mark: mark}
			mark = ""
		case strings.HasPrefix(fence, "```"):
			other = true
		case strings.HasPrefix(fence, "<!-- readme-test"):
			m := readmeMarkRE.FindStringSubmatch(fence)
			if m == nil || m[1] != "server" && m[1] != "skip" {
				return nil, fmt.Errorf("%s:%d: %q: want <!-- readme-test: server|skip (reason) -->", path, n, fence)
			}
			mark, markLine = m[1], n
		case fence != "" && mark != "":
			return nil, fmt.Errorf("%s:%d: the mark %q is not right before a shell block", path, markLine, mark)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unterminated shell block", path, cur.line)
	}
	if mark != "" {
		return nil, fmt.Errorf("%s:%d: the mark %q is not followed by a shell block", path, markLine, mark)
	}
	return blocks, sc.Err()
}

// readmeShell runs README blocks one after another as a user's shell
// session would: each block in `bash -euo pipefail` in the same directory,
// starting with the shell variables the blocks before it set (exported or
// not, as they were set).
type readmeShell struct {
	dir, state string
	env        []string
}

// The prologue reads the variables of the blocks before; the epilogue saves
// every variable the session has set since the first block began.
const (
	readmePrologue = `__readme_base=$(compgen -v); [ ! -s "$__READMETEST_STATE" ] || . "$__READMETEST_STATE"` + "\n"
	readmeEpilogue = "\n" + `for __readme_v in $(compgen -v); do
  case "$__readme_v" in __readme_*|BASH_*|FUNCNAME|PIPESTATUS|_) continue ;; esac
  case $'\n'"$__readme_base"$'\n' in *$'\n'"$__readme_v"$'\n'*) continue ;; esac
  declare -p "$__readme_v"
done > "$__READMETEST_STATE.new" && mv "$__READMETEST_STATE.new" "$__READMETEST_STATE"
`
)

// run runs block and returns its output (stdout and stderr as they
// interleave); a block that exits non-zero fails t.
func (sh *readmeShell) run(t *testing.T, b readmeBlock) string {
	t.Helper()
	tmp := t.TempDir()
	out, script := filepath.Join(tmp, "out"), filepath.Join(tmp, fmt.Sprintf("README.md-%d.sh", b.line))
	// One file for both streams keeps their order, as a terminal shows it.
	full := `exec >` + shellQuote(out) + ` 2>&1` + "\n" + readmePrologue + b.text + readmeEpilogue
	if err := os.WriteFile(script, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(sh.env, "__READMETEST_STATE="+sh.state)
	_, _, code := runProcess(t, 5*time.Minute, sh.dir, env, "bash", "-euo", "pipefail", script)
	output, _ := os.ReadFile(out)
	if code != 0 {
		t.Fatalf("README.md:%d: the block exited %d:\n%s\noutput:\n%s", b.line, code, b.text, output)
	}
	t.Logf("README.md:%d:\n%s", b.line, output)
	return string(output)
}

// vars returns the shell variables the blocks have set so far.
func (sh *readmeShell) vars(t *testing.T) map[string]string {
	t.Helper()
	script := `. "$__READMETEST_STATE"; for v in $(compgen -v); do printf '%s=%s\0' "$v" "${!v}"; done`
	out, stderr, code := runProcess(t, time.Minute, sh.dir, append(sh.env, "__READMETEST_STATE="+sh.state), "bash", "-c", script)
	if code != 0 {
		t.Fatalf("read the README's shell variables: %s", stderr)
	}
	vars := map[string]string{}
	for _, kv := range strings.Split(out, "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// TestREADME runs README.md's shell blocks in order, as written, against a
// fresh `peerplane serve --demo` (the built binary, on free ports, in a
// temporary directory that stands for the repository's checkout), with the
// real az and jq, so that the README cannot drift from what the product
// does. It checks the banner the server prints (the console's URL, and how
// to sign in), and after some blocks, through the API, the phases and error
// codes the README promises (never message text, which may change).
func TestREADME(t *testing.T) {
	requireAz(t)
	requireTool(t, "jq", "jq")
	if testing.Short() {
		t.Skip("runs the README's walkthrough with az for about two minutes; skipped with -short")
	}
	blocks, err := readmeBlocks(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	bin := peerplaneBinary(t)
	work, home := t.TempDir(), t.TempDir()
	if err := os.Symlink(bin, filepath.Join(work, "peerplane")); err != nil {
		t.Fatal(err)
	}
	env := isolatedEnv(home)
	sh := &readmeShell{dir: work, state: filepath.Join(t.TempDir(), "vars.sh"), env: env}

	// What the README promises after the block holding a command: checks
	// run after the first block that contains their key, and each must run.
	var api Ready
	peering := func(t *testing.T, vars map[string]string) (phase, code string, status int) {
		var p cliObj
		status = apiGet(t, api, "/networking/v1/peerings/"+vars["PEER"]+"?environment="+vars["ENV"], &p)
		return p.Status.Phase, p.Status.ErrorCode, status
	}
	checks := []struct {
		after string
		check func(t *testing.T, vars map[string]string, output string)
	}{
		{"network peering create", func(t *testing.T, vars map[string]string, output string) {
			if phase, code, _ := peering(t, vars); phase != "FAILED" || code != "APP_NOT_CONSENTED" {
				t.Fatalf("peering %q after its create: %s %s, want FAILED APP_NOT_CONSENTED", vars["PEER"], phase, code)
			}
		}},
		{"az resource tag", func(t *testing.T, vars map[string]string, output string) {
			// The grants are events: READY comes without a retry.
			deadline := time.Now().Add(30 * time.Second)
			for {
				phase, code, _ := peering(t, vars)
				if phase == "READY" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("peering %s is %s %s 30s after the grants, want READY without a retry", vars["PEER"], phase, code)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}},
		{"azure vnet update", func(t *testing.T, vars map[string]string, output string) {
			if !strings.Contains(output, "VnetAddressSpacesOverlap") {
				t.Fatalf("widening into the network's range was not refused with VnetAddressSpacesOverlap:\n%s", output)
			}
			if phase, code, _ := peering(t, vars); phase != "READY" {
				t.Fatalf("peering after the widening: %s %s, want READY", phase, code)
			}
		}},
		{"kcat -b", func(t *testing.T, vars map[string]string, output string) {
			// The topic made through Kafka REST, listed by kcat, and the
			// record produced read back, all from inside Contoso's VNet.
			for _, want := range []string{`topic "orders" with 3 partitions`, `{"order_id": 1, "item": "tea"}`} {
				if !strings.Contains(output, want) {
					t.Fatalf("the Kafka block's output lacks %q:\n%s", want, output)
				}
			}
		}},
		{"connect cluster create", func(t *testing.T, vars map[string]string, output string) {
			// Orders generated in the cluster reached the API in
			// Contoso's VNet through the peering, and the sink says so.
			for _, want := range []string{`"orderid"`, "RUNNING"} {
				if !strings.Contains(output, want) {
					t.Fatalf("the README's connectors did not deliver (no %q):\n%s", want, output)
				}
			}
		}},
		{"environment delete", func(t *testing.T, vars map[string]string, output string) {
			if _, _, status := peering(t, vars); status != http.StatusNotFound {
				t.Fatalf("peering %s after the clean-up: %d, want 404", vars["PEER"], status)
			}
			if status := apiGet(t, api, "/org/v2/environments/"+vars["ENV"], nil); status != http.StatusNotFound {
				t.Fatalf("environment %s after the clean-up: %d, want 404", vars["ENV"], status)
			}
		}},
	}
	done := make([]bool, len(checks))

	started := false
	for _, b := range blocks {
		switch b.mark {
		case "skip":
			t.Logf("README.md:%d: skipped, as marked", b.line)
			continue
		case "server":
			if started || !strings.Contains(b.text, "serve --demo") {
				t.Fatalf("README.md:%d: the server block must start `serve --demo`, once:\n%s", b.line, b.text)
			}
			srv := newServeProcess(t, bin, work, filepath.Join(work, ".data"), env, "--demo")
			srv.start()
			readJSONFile(t, filepath.Join(work, ".data", "credentials.json"), &api.Credentials)
			api.APIURL, started = srv.apiURL, true
			checkBanner(t, srv)
			continue
		}
		if !started {
			t.Fatalf("README.md:%d: a block runs before the server block:\n%s", b.line, b.text)
		}
		output := sh.run(t, b)
		for i, c := range checks {
			if !done[i] && strings.Contains(b.text, c.after) {
				done[i] = true
				c.check(t, sh.vars(t), output)
			}
		}
	}
	for i, c := range checks {
		if !done[i] {
			t.Errorf("no README block runs %q, after which the test checks what the README promises", c.after)
		}
	}
}

// TestReadmeBlocks reads marks and blocks as the README test does, and
// refuses a mark it does not know or that stands apart from a block.
func TestReadmeBlocks(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, fmt.Sprintf("r%d.md", len(s)))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	blocks, err := readmeBlocks(write("# T\n\n<!-- readme-test: skip (why) -->\n\n```sh\nmake test\n```\n\n```yaml\n```sh\n```\n\n```bash\necho hi\n```\n"))
	if err != nil || len(blocks) != 2 || blocks[0].mark != "skip" || blocks[0].text != "make test\n" || blocks[1].mark != "" || blocks[1].text != "echo hi\n" || blocks[1].line != 13 {
		t.Fatalf("blocks %+v, %v", blocks, err)
	}
	for _, bad := range []string{
		"<!-- readme-test: sikp -->\n```sh\nx\n```\n",
		"<!-- readme-test: skip -->\ntext\n```sh\nx\n```\n",
		"<!-- readme-test: server -->\n",
		"```sh\nx\n",
	} {
		if _, err := readmeBlocks(write(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// checkBanner reads the banner `serve` prints at start: it names the web
// console's URL, which answers, and says to sign in with the key in
// .data/credentials.json.
func checkBanner(t *testing.T, srv *serveProcess) {
	t.Helper()
	var banner string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(srv.log.Name())
		if banner = string(b); strings.Contains(banner, "Web console:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no web console line within 30s:\n%s", banner)
		}
	}
	var console string
	for _, line := range strings.Split(banner, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "Web" && f[1] == "console:" {
			console = f[2]
			if !strings.Contains(line, filepath.Join(".data", "credentials.json")) || !strings.Contains(line, "sign in") {
				t.Errorf("the console line does not say how to sign in: %q", line)
			}
		}
	}
	if console != srv.apiURL+"/console/" {
		t.Fatalf("the banner names the console %q, want %s/console/:\n%s", console, srv.apiURL, banner)
	}
	resp, err := http.Get(console)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s (the console, as the banner names it): %s", console, resp.Status)
	}
}
