package storetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/store"
)

// crashDSNEnv, when set, turns the test binary into Crash's writer.
const crashDSNEnv = "PEERPLANE_STORETEST_CRASH_DSN"

// crashAcks is how many acknowledged writes Crash waits for before the kill.
const crashAcks = 100

// MaybeRunCrashChild must be the first call in TestMain of every package
// that uses [Crash]. In an ordinary test run it returns at once. In the
// child process Crash starts it writes documents to the store, one for
// each line it reads on its standard input, printing "ack N" after
// ApplyDocs returned for write N, until it is killed; it never returns.
func MaybeRunCrashChild() {
	dsn := os.Getenv(crashDSNEnv)
	if dsn == "" {
		return
	}
	os.Exit(crashChild(dsn))
}

func crashDoc(i int) azureemu.Doc {
	return azureemu.Doc{Kind: "crash", Key: fmt.Sprintf("%06d", i), Body: []byte("body " + strconv.Itoa(i))}
}

func crashChild(dsn string) int {
	// Bounded, in case the parent dies without killing us.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	in := bufio.NewReader(os.Stdin)
	for i := 0; i < 100*crashAcks; i++ {
		// In step with the parent: however slow it is to read the acks,
		// it knows which writes may have been made.
		if _, err := in.ReadString('\n'); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			return 2
		}
		// Each write adds a doc, overwrites a counter and deletes the
		// previous write's marker, so puts, upserts and deletes all have
		// to survive.
		puts := []azureemu.Doc{crashDoc(i), {Kind: "crash-counter", Key: "n", Body: []byte(strconv.Itoa(i))}, {Kind: "crash-marker", Key: strconv.Itoa(i)}}
		deletes := []azureemu.Doc{{Kind: "crash-marker", Key: strconv.Itoa(i - 1)}}
		if err := db.ApplyDocs(ctx, puts, deletes); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			return 2
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", i); err != nil {
			return 2
		}
	}
	return 3
}

// Crash checks that acknowledged writes survive a crash: it re-executes the
// test binary as a writer on dsn (see [MaybeRunCrashChild]), sends it
// SIGKILL right after it acknowledged a write, then reopens dsn and expects
// every acknowledged write. The writer makes one write for each line the
// test sends it, so the kill lands during (or just after) the write after
// the last acknowledged one, whatever the machine's load.
func Crash(t *testing.T, dsn string) {
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDSNEnv+"="+dsn)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	next := func() {
		if _, err := io.WriteString(in, "go\n"); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("ask the writer for a write: %v\n%s", err, stderr.Bytes())
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start writer: %v", err)
	}
	last := -1
	sc := bufio.NewScanner(out)
	next()
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
		if err != nil || n != last+1 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("writer said %q after ack %d", sc.Text(), last)
		}
		last = n
		next()
		if last+1 == crashAcks {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill writer: %v", err)
			}
			break
		}
	}
	err = cmd.Wait()
	if last+1 != crashAcks {
		t.Fatalf("writer stopped after %d acks: %v\n%s", last+1, err, stderr.Bytes())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("writer ended with %v, want killed by SIGKILL\n%s", err, stderr.Bytes())
	}

	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer db.Close()
	docs, err := db.LoadDocs(ctx)
	if err != nil {
		t.Fatalf("LoadDocs after crash: %v", err)
	}
	got := map[string]map[string]string{}
	for _, d := range docs {
		if got[d.Kind] == nil {
			got[d.Kind] = map[string]string{}
		}
		got[d.Kind][d.Key] = string(d.Body)
	}
	// The writer, in step with the test, may have committed the one write
	// it was asked for with the kill, but no fewer than it acknowledged,
	// and only whole writes.
	counter, err := strconv.Atoi(got["crash-counter"]["n"])
	if err != nil || counter < last || counter > last+1 {
		t.Fatalf("counter = %q after %d acknowledged writes", got["crash-counter"]["n"], last+1)
	}
	for i := 0; i <= counter; i++ {
		want := crashDoc(i)
		if body, ok := got["crash"][want.Key]; !ok || body != string(want.Body) {
			what := "acknowledged"
			if i > last {
				what = "committed (counter " + strconv.Itoa(counter) + ")"
			}
			t.Fatalf("%s doc crash/%s lost after crash (have %d crash docs)", what, want.Key, len(got["crash"]))
		}
	}
	if len(got["crash"]) != counter+1 {
		t.Fatalf("%d crash docs, want %d: the counter and the docs were not written together", len(got["crash"]), counter+1)
	}
	if _, ok := got["crash-marker"][strconv.Itoa(counter)]; !ok || len(got["crash-marker"]) != 1 {
		t.Fatalf("markers %v, want only %d", got["crash-marker"], counter)
	}
	t.Logf("killed after %d acknowledged writes; %d committed", last+1, counter+1)
}
